"""ONVIF XML Schemas from the WSDLs that ship inside the `onvif` (onvif-zeep-async) package.

The device and media WSDLs embed their schemas; they are written out as standalone .xsd files
next to a small wrapper that imports every namespace, so one lxml XMLSchema checks tds:, trt:,
tptz:, tev:, wsnt: and tt: content.
"""

import functools
import os
import tempfile

import onvif
from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
WSDL_DIR = os.path.join(os.path.dirname(onvif.__file__), "wsdl")


def _standalone(wsdl: str, out_dir: str, name: str) -> str:
    tree = etree.parse(os.path.join(WSDL_DIR, wsdl))
    schema = tree.find(f".//{{{XS}}}schema")
    for imp in schema.iter(f"{{{XS}}}import"):
        location = imp.get("schemaLocation")
        if location:
            imp.set("schemaLocation", os.path.join(WSDL_DIR, os.path.basename(location)))
    path = os.path.join(out_dir, name)
    with open(path, "wb") as f:
        f.write(etree.tostring(schema))
    return path


@functools.lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    out = tempfile.mkdtemp(prefix="onvif-xsd-")
    imports = {
        "http://www.onvif.org/ver10/device/wsdl": _standalone("devicemgmt.wsdl", out, "tds.xsd"),
        "http://www.onvif.org/ver10/media/wsdl": _standalone("media.wsdl", out, "trt.xsd"),
        "http://www.onvif.org/ver20/ptz/wsdl": _standalone("ptz.wsdl", out, "tptz.xsd"),
        "http://www.onvif.org/ver20/imaging/wsdl": _standalone("imaging.wsdl", out, "timg.xsd"),
        "http://www.onvif.org/ver10/deviceIO/wsdl": _standalone("deviceio.wsdl", out, "tmd.xsd"),
        "http://www.onvif.org/ver10/events/wsdl": _standalone("events.wsdl", out, "tev.xsd"),
        "http://docs.oasis-open.org/wsn/b-2": os.path.join(WSDL_DIR, "b-2.xsd"),
        "http://www.onvif.org/ver10/schema": os.path.join(WSDL_DIR, "onvif.xsd"),
    }
    wrapper = f'<xs:schema xmlns:xs="{XS}" targetNamespace="urn:babymonitor:test:all" elementFormDefault="qualified">'
    for ns, path in imports.items():
        wrapper += f'<xs:import namespace="{ns}" schemaLocation="{path}"/>'
    wrapper += "</xs:schema>"
    path = os.path.join(out, "all.xsd")
    with open(path, "w") as f:
        f.write(wrapper)
    return etree.XMLSchema(etree.parse(path))


def body_element(response: bytes) -> etree._Element:
    """The element inside env:Body, keeping the namespace declarations in scope."""
    root = etree.fromstring(response)
    body = root.find("{http://www.w3.org/2003/05/soap-envelope}Body")
    assert body is not None and len(body) == 1, response[:500]
    return body[0]


def errors(element: etree._Element) -> str:
    """Schema errors of an element ('' when it is valid)."""
    s = schema()
    if s.validate(etree.ElementTree(element)):
        return ""
    return "\n".join(f"line {e.line}: {e.message}" for e in s.error_log)
