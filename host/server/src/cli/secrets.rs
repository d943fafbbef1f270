//! The password and the passcode: from the environment, a file or a prompt,
//! never from an argument (arguments are visible to every user in `ps`).

use std::io::IsTerminal;
use std::path::Path;

/// Why a secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0}")]
    Missing(String),
    #[error("cannot read the passcode file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("cannot read from the terminal: {0}")]
    Prompt(String),
    #[error("the passcodes do not match")]
    Mismatch,
}

/// The login password: `DRHOST_PASSWORD`, else a prompt on a terminal.
pub fn password(user: &str) -> Result<String, SecretError> {
    if let Some(password) = non_empty_env("DRHOST_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(SecretError::Missing(
            "no password: set DRHOST_PASSWORD (or run on a terminal to be asked)".to_owned(),
        ));
    }
    prompt(&format!("Password for {user}: "))
}

/// The backup passcode: `--passcode-file` (first line), else
/// `DRHOST_PASSCODE`, else a prompt on a terminal, asked twice when
/// `confirm` (a mistyped passcode at backup time loses the backup).
pub fn passcode(file: Option<&Path>, confirm: bool) -> Result<String, SecretError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        return first_line(&text).ok_or_else(|| SecretError::File {
            path: path.display().to_string(),
            reason: "it is empty".to_owned(),
        });
    }
    if let Some(passcode) = non_empty_env("DRHOST_PASSCODE") {
        return Ok(passcode);
    }
    if !std::io::stdin().is_terminal() {
        return Err(SecretError::Missing(
            "no passcode: set DRHOST_PASSCODE or pass --passcode-file".to_owned(),
        ));
    }
    let passcode = prompt("Backup passcode: ")?;
    if confirm && prompt("Backup passcode again: ")? != passcode {
        return Err(SecretError::Mismatch);
    }
    Ok(passcode)
}

/// The first line without its line ending; `None` when empty. Only the line
/// ending is removed: spaces may be part of a passcode.
fn first_line(text: &str) -> Option<String> {
    let line = text.lines().next().unwrap_or_default();
    (!line.is_empty()).then(|| line.to_owned())
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn prompt(text: &str) -> Result<String, SecretError> {
    rpassword::prompt_password(text).map_err(|e| SecretError::Prompt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passcode_files_keep_spaces_but_not_line_endings() {
        assert_eq!(
            first_line("my long passcode \n"),
            Some("my long passcode ".into())
        );
        assert_eq!(
            first_line("crlf-passcode\r\nsecond"),
            Some("crlf-passcode".into())
        );
        assert_eq!(first_line("\nsecond"), None);
        assert_eq!(first_line(""), None);
    }

    #[test]
    fn the_passcode_file_wins_and_must_not_be_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("passcode");
        std::fs::write(&file, "from-the-file\n").expect("write");
        assert_eq!(passcode(Some(&file), true).expect("read"), "from-the-file");
        std::fs::write(&file, "").expect("write");
        let error = passcode(Some(&file), false).expect_err("empty");
        assert!(error.to_string().contains("empty"), "{error}");
        let error = passcode(Some(&dir.path().join("nope")), false).expect_err("missing");
        assert!(error.to_string().contains("nope"), "{error}");
    }
}
