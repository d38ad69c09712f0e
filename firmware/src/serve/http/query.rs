//! Query strings, read through serde (`application/x-www-form-urlencoded`: `+` is a space,
//! percent escapes decoded): the one place the HTTP API parses them.

use serde::de::DeserializeOwned;

/// `query` (the part after `?`, if any) as `T`; the error says which parameter is wrong.
pub(super) fn parse<T: DeserializeOwned>(query: Option<&str>) -> Result<T, String> {
    serde_urlencoded::from_str(query.unwrap_or_default()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Width {
        width: Option<u32>,
    }

    #[test]
    fn values_are_decoded_and_typed() {
        assert_eq!(
            parse::<Vec<(String, String)>>(Some("name=Mum%27s+song&x")).expect("pairs"),
            vec![
                ("name".to_string(), "Mum's song".to_string()),
                ("x".to_string(), String::new())
            ]
        );
        assert_eq!(parse::<Width>(None), Ok(Width { width: None }));
        assert_eq!(
            parse::<Width>(Some("a=b&width=64")),
            Ok(Width { width: Some(64) })
        );
        for bad in ["width=-1", "width=99999999999", "width=ten"] {
            assert!(parse::<Width>(Some(bad)).is_err(), "{bad}");
        }
    }
}
