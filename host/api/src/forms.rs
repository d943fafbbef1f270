//! HTML forms of the operations, one per operation a resource page lists:
//! which parameters each operation takes, and how they are rendered.
//!
//! The forms post exactly what the JSON clients post (the same parameter
//! names, `application/x-www-form-urlencoded`), plus `f=html` and the token
//! as hidden inputs, so the HTML view exercises the real API.

use serde_json::Value;

use crate::escape::escape;
use crate::routes::{Route, TaskRoute};

/// How a parameter is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    Text,
    /// Never pre-filled and not echoed by the browser.
    Password,
    /// JSON objects (`settings`).
    Textarea,
    /// Booleans: checked sends `true`, unchecked sends nothing (= false).
    Checkbox,
}

/// One parameter of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// The API parameter name.
    pub(crate) name: &'static str,
    pub(crate) input: Input,
    pub(crate) required: bool,
    /// Initial value (never for passwords).
    pub(crate) value: String,
    /// A short explanation shown next to the input.
    pub(crate) hint: &'static str,
}

impl Field {
    fn new(name: &'static str, input: Input) -> Self {
        Field {
            name,
            input,
            required: false,
            value: String::new(),
            hint: "",
        }
    }

    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    fn hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }
}

/// The form of one operation of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Form {
    /// The operation's path segment, e.g. `create`.
    pub(crate) operation: String,
    pub(crate) fields: Vec<Field>,
}

/// The parameters of operation `op` of the resource `route`, whose current
/// JSON is `value` (used to pre-fill `settings/update`).
pub(crate) fn form_for(route: &Route, op: &str, value: &Value) -> Form {
    let retention = || {
        Field::new("retentionDate", Input::Text)
            .value("-1")
            .hint("epoch milliseconds; -1 = keep forever")
    };
    let passcode = || {
        Field::new("passcode", Input::Password)
            .required()
            .hint("at least eight characters; needed to restore")
    };
    let store_name = || Field::new("storeName", Input::Text).hint("the default store when empty");
    let partial = || {
        Field::new("partial", Input::Checkbox)
            .hint("restore only the complete stages of a partial backup")
    };
    let fields = match (route, op) {
        (Route::Settings, "update") => vec![
            Field::new("settings", Input::Textarea)
                .required()
                .value(serde_json::to_string_pretty(value).unwrap_or_default())
                .hint("JSON object"),
        ],
        (Route::Stores, "register") => vec![
            Field::new("storeName", Input::Text).required(),
            Field::new("settings", Input::Textarea)
                .required()
                .value(r#"{"type": "HOSTED"}"#)
                .hint(
                    "JSON object, e.g. {\"type\": \"HOSTED\"} or an S3 store's settings; \
                     \"appendOnly\": true for write-once media (drhost then never deletes)",
                ),
            Field::new("isDefault", Input::Checkbox),
        ],
        (Route::Store { .. }, "update") => vec![
            Field::new("settings", Input::Textarea)
                .required()
                .value(r#"{"default": true}"#)
                .hint("JSON object"),
        ],
        (Route::Backups { .. }, "create") => vec![
            Field::new("name", Input::Text).required(),
            passcode(),
            Field::new("description", Input::Text),
            retention(),
        ],
        (Route::Backup { .. }, "update") => vec![retention().required()],
        (Route::Backup { .. }, "restore") => vec![passcode(), partial()],
        (Route::Backup { .. }, "verify") => vec![passcode()],
        (Route::Backup { .. }, "delete") => vec![
            Field::new("async", Input::Checkbox)
                .hint("answer at once with the job instead of waiting"),
        ],
        (Route::LegacyRoot, "backup") => vec![
            Field::new("name", Input::Text).required(),
            passcode(),
            store_name(),
            Field::new("description", Input::Text),
            retention(),
        ],
        (Route::LegacyBackup { .. }, "restore") => vec![passcode(), store_name(), partial()],
        (Route::LegacyBackup { .. }, "delete") => vec![store_name()],
        (Route::Task(TaskRoute::List), "createTask") => {
            let mut fields = vec![
                Field::new("type", Input::Text).required().value("CreateBackup"),
                Field::new("title", Input::Text),
                Field::new("parameters", Input::Textarea)
                    .required()
                    .value(
                        r#"{"name": "nightly", "passcode": "", "storeName": "default", "metaData": {"retention": {"type": "day", "value": 14}}}"#,
                    )
                    .hint("JSON: name prefix, passcode, storeName, retention"),
            ];
            fields.extend(cron_fields(true));
            fields
        }
        (Route::Task(TaskRoute::One { .. }), "update") => {
            let mut fields = vec![
                Field::new("title", Input::Text),
                Field::new("parameters", Input::Textarea)
                    .hint("JSON; leave empty to keep; without passcode keeps the current one"),
            ];
            fields.extend(cron_fields(false));
            fields
        }
        // `unregister`, `validate`, task `enable`/`disable`/`run`/`delete`: no parameters.
        _ => vec![],
    };
    Form {
        operation: op.to_owned(),
        fields,
    }
}

/// The five CRON fields of a schedule (UTC, Quartz style).
fn cron_fields(required: bool) -> Vec<Field> {
    [
        ("minute", "0", "0-59"),
        ("hour", "2", "0-23, * for every hour"),
        ("dayOfMonth", "*", "1-31, * or ?"),
        ("month", "*", "1-12 or JAN-DEC"),
        ("dayOfWeek", "?", "1-7 (1 = Sunday), SUN-SAT or ?"),
    ]
    .into_iter()
    .map(|(name, value, hint)| {
        let field = Field::new(name, Input::Text).hint(hint);
        if required {
            field.required().value(value)
        } else {
            field
        }
    })
    .collect()
}

/// The form's HTML; it posts to `<base_path>/<operation>`.
pub(crate) fn render(form: &Form, base_path: &str, token: Option<&str>) -> String {
    let action = format!(
        "{}/{}",
        base_path.trim_end_matches('/'),
        crate::pct::encode_segment(&form.operation)
    );
    let op = escape(&form.operation);
    let mut html = format!(
        "<form method=\"post\" action=\"{}\" id=\"op-{op}\" class=\"operation\">\n\
         <fieldset>\n<legend>{op}</legend>\n",
        escape(&action)
    );
    for field in &form.fields {
        html.push_str(&render_field(&form.operation, field));
    }
    html.push_str(&hidden_inputs(token));
    html.push_str(&format!(
        "<button type=\"submit\">{op}</button>\n</fieldset>\n</form>\n"
    ));
    html
}

/// `f=html` and the token, which every form and page link must carry: the
/// reference API's HTML view is stateless too (no cookies).
pub(crate) fn hidden_inputs(token: Option<&str>) -> String {
    let mut html = "<input type=\"hidden\" name=\"f\" value=\"html\">\n".to_owned();
    if let Some(token) = token {
        html.push_str(&format!(
            "<input type=\"hidden\" name=\"token\" value=\"{}\">\n",
            escape(token)
        ));
    }
    html
}

fn render_field(operation: &str, field: &Field) -> String {
    let id = escape(&format!("{operation}-{}", field.name));
    let name = escape(field.name);
    let required = if field.required { " required" } else { "" };
    let input = match field.input {
        Input::Text => format!(
            "<input type=\"text\" id=\"{id}\" name=\"{name}\" value=\"{}\"{required}>",
            escape(&field.value)
        ),
        Input::Password => format!(
            "<input type=\"password\" id=\"{id}\" name=\"{name}\" autocomplete=\"new-password\"{required}>"
        ),
        Input::Textarea => format!(
            "<textarea id=\"{id}\" name=\"{name}\" rows=\"6\" cols=\"60\"{required}>{}</textarea>",
            escape(&field.value)
        ),
        Input::Checkbox => {
            format!("<input type=\"checkbox\" id=\"{id}\" name=\"{name}\" value=\"true\">")
        }
    };
    let hint = if field.hint.is_empty() {
        String::new()
    } else {
        format!(" <small>{}</small>", escape(field.hint))
    };
    format!("<p><label for=\"{id}\">{name}</label> {input}{hint}</p>\n")
}
