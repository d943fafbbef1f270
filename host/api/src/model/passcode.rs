//! The passcode a new backup is encrypted under, and the one rule it must
//! follow (the reference API's: at least eight characters).

use std::fmt;

/// Fewest characters (not bytes) a new backup's passcode may have.
pub const MIN_PASSCODE_CHARS: usize = 8;

/// A passcode that follows the rule. Built only through [`Passcode::new`], so
/// holding one means the rule was checked; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Passcode(String);

/// A passcode shorter than [`MIN_PASSCODE_CHARS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The passcode must be at least eight characters in length.")]
pub struct PasscodeTooShort;

impl Passcode {
    pub fn new(passcode: impl Into<String>) -> Result<Self, PasscodeTooShort> {
        let passcode = passcode.into();
        if passcode.chars().count() < MIN_PASSCODE_CHARS {
            return Err(PasscodeTooShort);
        }
        Ok(Passcode(passcode))
    }

    /// The secret itself, for the key derivation and for sealing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

// Requests holding a passcode are logged with `{:?}` in places; the secret
// must not go with them.
impl fmt::Debug for Passcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passcode(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_characters_not_bytes() {
        assert_eq!(Passcode::new("1234567"), Err(PasscodeTooShort));
        assert!(Passcode::new("12345678").is_ok());
        // Seven characters, fourteen bytes.
        assert_eq!(Passcode::new("ééééééé"), Err(PasscodeTooShort));
    }

    #[test]
    fn debug_hides_the_secret() {
        let passcode = Passcode::new("long-passcode").expect("valid");
        assert!(!format!("{passcode:?}").contains("long"));
        assert_eq!(passcode.expose(), "long-passcode");
    }
}
