//! The wire: reading XML with its namespaces, writing replies, SOAP envelopes and faults, and the
//! namespace URIs every service uses.

pub mod ns;
pub mod soap;
pub(crate) mod write;
pub mod xml;
