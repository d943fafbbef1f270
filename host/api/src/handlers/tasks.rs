//! Scheduled tasks: `/admin/system/tasks[/createTask|/<id>[/update|delete|
//! enable|disable|run|runs[/<run>]]]` (spec §8; `run` is a drhost addition
//! that starts a run now).

use serde_json::Value;

use super::{Ctx, success};
use crate::error::ApiError;
use crate::ops::{TaskCall, TaskParams};
use crate::params::{ParamError, Params};
use crate::routes::TaskRoute;

pub(crate) async fn handle(ctx: &Ctx<'_>, route: &TaskRoute) -> Result<Value, ApiError> {
    let call = match route {
        TaskRoute::List => TaskCall::List,
        TaskRoute::Create => TaskCall::Create(task_params(ctx.params, true)?),
        TaskRoute::One { id } => TaskCall::Get(id.clone()),
        TaskRoute::Runs { id } => TaskCall::Runs(id.clone()),
        TaskRoute::Run { id, run } => TaskCall::Run {
            task: id.clone(),
            run: run.clone(),
        },
        TaskRoute::Op { id, op } => match op.as_str() {
            "update" => TaskCall::Update(id.clone(), task_params(ctx.params, false)?),
            "delete" => TaskCall::Delete(id.clone()),
            "enable" => TaskCall::SetEnabled(id.clone(), true),
            "disable" => TaskCall::SetEnabled(id.clone(), false),
            _ => TaskCall::RunNow(id.clone()),
        },
    };
    let answer = ctx.app.ops.tasks(call.clone()).await?;
    Ok(match call {
        TaskCall::Delete(_) | TaskCall::SetEnabled(..) => success(),
        _ => answer,
    })
}

/// The `createTask`/`update` parameters; `parameters` is JSON.
fn task_params(params: &Params, creating: bool) -> Result<TaskParams, ApiError> {
    let text = |name: &str| params.text(name).map(str::to_owned);
    let integer = |name: &'static str| -> Result<Option<i64>, ParamError> {
        params
            .text(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| ParamError::Invalid {
                    name,
                    reason: "expected an integer (epoch ms or a count).".to_owned(),
                })
            })
            .transpose()
    };
    let parameters = match params.text("parameters") {
        Some(_) => Some(params.json_object("parameters")?),
        None if creating => {
            return Err(ApiError::BadRequest(
                "'parameters' must be specified.".to_owned(),
            ));
        }
        None => None,
    };
    Ok(TaskParams {
        title: text("title"),
        task_type: text("type").or_else(|| text("taskType")),
        parameters,
        start_date: integer("startDate")?,
        end_date: integer("endDate")?,
        minute: text("minute"),
        hour: text("hour"),
        day_of_month: text("dayOfMonth"),
        month: text("month"),
        day_of_week: text("dayOfWeek"),
        max_occurrences: integer("maxOccurrences")?,
    })
}
