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

/// The form of operation `op` of a resource whose current JSON is `value`
/// (used to pre-fill `settings/update`); `operation` is the route `op`
/// leads to, `None` if it leads nowhere (then the form has no fields).
pub(crate) fn form_for(operation: Option<&Route>, op: &str, value: &Value) -> Form {
    Form {
        operation: op.to_owned(),
        fields: operation.map_or_else(Vec::new, |route| fields(route, value)),
    }
}

/// The parameters of the operation `route`, declared once per operation
/// route. The match names every route without a wildcard, so a new
/// operation does not compile until it says what its form asks for.
fn fields(route: &Route, value: &Value) -> Vec<Field> {
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
    match route {
        Route::UpdateSettings => vec![
            Field::new("settings", Input::Textarea)
                .required()
                .value(serde_json::to_string_pretty(value).unwrap_or_default())
                .hint("JSON object"),
        ],
        Route::RegisterStore => vec![
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
        Route::UpdateStore { .. } => vec![
            Field::new("settings", Input::Textarea)
                .required()
                .value(r#"{"default": true}"#)
                .hint("JSON object"),
        ],
        Route::CreateBackup { .. } => vec![
            Field::new("name", Input::Text).required(),
            passcode(),
            Field::new("description", Input::Text),
            retention(),
        ],
        Route::UpdateBackup { .. } => vec![retention().required()],
        Route::RestoreBackup { .. } => vec![passcode(), partial()],
        Route::VerifyBackup { .. } => vec![passcode()],
        Route::DeleteBackup { .. } => vec![
            Field::new("async", Input::Checkbox)
                .hint("answer at once with the job instead of waiting"),
        ],
        Route::LegacyCreateBackup => vec![
            Field::new("name", Input::Text).required(),
            passcode(),
            store_name(),
            Field::new("description", Input::Text),
            retention(),
        ],
        Route::LegacyRestoreBackup { .. } => vec![passcode(), store_name(), partial()],
        Route::LegacyDeleteBackup { .. } => vec![store_name()],
        Route::Task(TaskRoute::Create) => {
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
        Route::Task(TaskRoute::Op { op, .. }) if op == "update" => {
            let mut fields = vec![
                Field::new("title", Input::Text),
                Field::new("parameters", Input::Textarea)
                    .hint("JSON; leave empty to keep; without passcode keeps the current one"),
            ];
            fields.extend(cron_fields(false));
            fields
        }
        // Task `enable`/`disable`/`run`/`delete` and the rest: no parameters.
        Route::Task(TaskRoute::Op { .. } | TaskRoute::RunOp { .. })
        | Route::UnregisterStore { .. }
        | Route::ValidateStore { .. }
        | Route::ValidateBackup { .. }
        | Route::LegacyValidateBackup { .. } => vec![],
        // Sign-ins have pages of their own, resources no form.
        Route::GenerateToken
        | Route::Portal(_)
        | Route::Task(
            TaskRoute::List
            | TaskRoute::One { .. }
            | TaskRoute::Runs { .. }
            | TaskRoute::Run { .. },
        )
        | Route::AdminRoot
        | Route::System
        | Route::DisasterRecovery
        | Route::Status
        | Route::Settings
        | Route::Stores
        | Route::Store { .. }
        | Route::Backups { .. }
        | Route::Backup { .. }
        | Route::LegacyRoot
        | Route::LegacyBackups
        | Route::LegacyBackup { .. }
        | Route::LegacyStatus
        | Route::Plugins
        | Route::Plugin { .. }
        | Route::Jobs
        | Route::Job { .. } => vec![],
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::routes::tests::every_route;
    use crate::routes::{Kind, match_path};

    /// Every operation a resource page offers leads to an operation route,
    /// which has a privilege (so viewers lose the form) and a form; the
    /// form's fields come from that route, not from the resource.
    #[test]
    fn every_offered_operation_is_an_operation_route_with_a_privilege() {
        let context = ["arcgis".to_owned()];
        let mut offered = 0;
        for (path, resource) in every_route() {
            let (_, operations) = resource.children(&json!({}));
            for op in operations {
                let op_path = format!("{path}/{}", crate::pct::encode_segment(&op));
                let route = match_path(&context, &op_path)
                    .unwrap_or_else(|error| panic!("{op_path}: {error}"));
                assert_eq!(route.kind(), Kind::Operation, "{op_path}");
                assert!(route.privilege().is_some(), "{op_path}");
                let form = form_for(Some(&route), &op, &json!({}));
                assert_eq!(form.operation, op);
                offered += 1;
            }
        }
        assert!(offered > 10, "only {offered} operations offered");
    }

    #[test]
    fn forms_belong_to_the_operation_route() {
        let backup = Route::RestoreBackup {
            store: "s".to_owned(),
            backup: "b".to_owned(),
        };
        let names: Vec<&str> = form_for(Some(&backup), "restore", &json!({}))
            .fields
            .iter()
            .map(|field| field.name)
            .collect();
        assert_eq!(names, ["passcode", "partial"]);
        assert!(form_for(None, "nowhere", &json!({})).fields.is_empty());
    }
}
