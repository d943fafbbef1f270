//! The reference API's volume descriptions: a `HOSTED` store's
//! `storageConfig` and the DR settings' `stagingVolumeConfig` (spec §5.3,
//! §9). drhost keeps and shows them, and checks what the reference
//! constrains: `provisioningType` is `DYNAMIC` or `STATIC`.

use serde_json::Value;

/// The reference's provisioning types (`STATIC` since 11.3).
pub const PROVISIONING_TYPES: &[&str] = &["DYNAMIC", "STATIC"];

/// Checks the volume description `config` (named `field` in messages) and
/// writes its `provisioningType` in the reference's upper case.
pub fn check_volume_config(field: &str, config: &mut Value) -> Result<(), String> {
    let Some(object) = config.as_object_mut() else {
        return Err(format!("{field} must be a JSON object"));
    };
    if let Some(kind) = object.get_mut("provisioningType") {
        let known = kind.as_str().and_then(|text| {
            PROVISIONING_TYPES
                .iter()
                .find(|t| t.eq_ignore_ascii_case(text.trim()))
        });
        match known {
            Some(known) => *kind = Value::String((*known).to_string()),
            None => {
                let shown: String = kind.to_string().chars().take(40).collect();
                return Err(format!(
                    "{field}.provisioningType {shown} is not one of {}",
                    PROVISIONING_TYPES.join(", ")
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn provisioning_types_are_the_references() {
        let mut ok = json!({"provisioningType": "static", "size": "64Gi"});
        check_volume_config("storageConfig", &mut ok).expect("static");
        assert_eq!(ok["provisioningType"], "STATIC");
        check_volume_config("storageConfig", &mut json!({"size": "64Gi"})).expect("absent");
        for bad in [json!("ONDEMAND"), json!(""), json!(1), json!(null)] {
            let err =
                check_volume_config("stagingVolumeConfig", &mut json!({"provisioningType": bad}))
                    .expect_err("refused");
            assert!(
                err.contains("stagingVolumeConfig.provisioningType"),
                "{err}"
            );
            assert!(err.contains("DYNAMIC, STATIC"), "{err}");
        }
        assert!(check_volume_config("storageConfig", &mut json!([1])).is_err());
    }
}
