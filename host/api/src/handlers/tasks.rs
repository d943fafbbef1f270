//! Scheduled tasks: `/admin/system/tasks[/createTask|/<id>[/update|delete|
//! enable|disable|run|runs[/<run>[/update|delete]]]]` (spec §8; `run` is a
//! drhost addition that starts a run now).

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
        TaskRoute::RunOp { id, run, op } if op == "delete" => TaskCall::DeleteRun {
            task: id.clone(),
            run: run.clone(),
        },
        TaskRoute::RunOp { id, run, .. } => TaskCall::UpdateRun {
            task: id.clone(),
            run: run.clone(),
            status: ctx.params.text("status").map(str::to_owned),
            // `result` (the reference, `Run.update`) or `results`
            // (`TaskManager.edit_run` of the ArcGIS API for Python).
            result: ctx
                .params
                .get("result")
                .or_else(|| ctx.params.get("results"))
                .map(str::to_owned),
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
        TaskCall::Delete(_)
        | TaskCall::SetEnabled(..)
        | TaskCall::UpdateRun { .. }
        | TaskCall::DeleteRun { .. } => task_success(),
        _ => answer,
    })
}

/// The API's `{"status": "success"}` with the tasks resource's own
/// `"success": true`, which task clients (the ArcGIS API for Python's
/// `Task.delete`, `Task.enable`, `Run.update`, `Run.delete`) test for.
fn task_success() -> Value {
    let mut answer = success();
    answer["success"] = Value::Bool(true);
    answer
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
        is_active: params
            .text("isActive")
            .map(|v| {
                crate::params::parse_bool(v).ok_or(ParamError::Invalid {
                    name: "isActive",
                    reason: "expected true or false.".to_owned(),
                })
            })
            .transpose()?,
    })
}
