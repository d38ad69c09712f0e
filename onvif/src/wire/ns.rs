//! Namespace URIs, and the prefixes our responses declare for them.

pub const SOAP_ENV: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const SOAP11_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const WSA: &str = "http://www.w3.org/2005/08/addressing";
pub const TT: &str = "http://www.onvif.org/ver10/schema";
pub const TER: &str = "http://www.onvif.org/ver10/error";
pub const TDS: &str = "http://www.onvif.org/ver10/device/wsdl";
pub const TRT: &str = "http://www.onvif.org/ver10/media/wsdl";
pub const TR2: &str = "http://www.onvif.org/ver20/media/wsdl";
pub const TPTZ: &str = "http://www.onvif.org/ver20/ptz/wsdl";
pub const TIMG: &str = "http://www.onvif.org/ver20/imaging/wsdl";
pub const TEV: &str = "http://www.onvif.org/ver10/events/wsdl";
pub const TMD: &str = "http://www.onvif.org/ver10/deviceIO/wsdl";
pub const WSNT: &str = "http://docs.oasis-open.org/wsn/b-2";
pub const WSTOP: &str = "http://docs.oasis-open.org/wsn/t-1";
pub const TNS1: &str = "http://www.onvif.org/ver10/topics";
pub const XS: &str = "http://www.w3.org/2001/XMLSchema";

pub const PASSWORD_DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
pub const PASSWORD_TEXT: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";

/// Declared once on every response envelope, so bodies can use the prefixes freely.
pub(crate) const DECLARATIONS: &[(&str, &str)] = &[
    ("env", SOAP_ENV),
    ("tt", TT),
    ("ter", TER),
    ("tds", TDS),
    ("trt", TRT),
    ("tr2", TR2),
    ("tptz", TPTZ),
    ("timg", TIMG),
    ("tmd", TMD),
    ("tev", TEV),
    ("wsa", WSA),
    ("wsnt", WSNT),
    ("wstop", WSTOP),
    ("tns1", TNS1),
    ("xs", XS),
];
