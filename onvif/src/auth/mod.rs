//! Who is asking: WS-Security UsernameToken (`security`) and HTTP Digest (`http_digest`), the two
//! ways ONVIF clients log in.

pub mod http_digest;
pub mod security;
