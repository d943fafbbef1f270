"""A session of the ArcGIS API for Python (arcgis 2.4.4) against drhost.

Run by tests/arcgis_python.rs with the environment variables DRHOST_URL
(https://host:port/<context>), DRHOST_USER, DRHOST_PASSWORD,
DRHOST_PASSCODE, DRHOST_STORE_ROOT (a directory where a HOSTED store may
be registered) and DRHOST_CACERT (the host's certificate). Exits non-zero, naming the step, when anything is not as the
client expects; prints one line per step.
"""

import os
import sys
import time

from arcgis.gis import GIS
from arcgis.gis.kubernetes._admin._recovery import BackupStore
from arcgis.gis.tasks._schedule import Run, Task

URL = os.environ["DRHOST_URL"]
USER = os.environ["DRHOST_USER"]
PASSWORD = os.environ["DRHOST_PASSWORD"]
PASSCODE = os.environ["DRHOST_PASSCODE"]
STORE_ROOT = os.environ["DRHOST_STORE_ROOT"]
CACERT = os.environ["DRHOST_CACERT"]


def step(name, value=None):
    print(f"ok {name}: {value!r}" if value is not None else f"ok {name}", flush=True)


def check(condition, what):
    if not condition:
        print(f"FAILED {what}", flush=True)
        sys.exit(1)


def wait_job(gis, jobs_url, limit=300):
    check(jobs_url.startswith("https://"), f"jobsUrl is HTTPS: {jobs_url}")
    deadline = time.time() + limit
    while True:
        job = gis._con.get(jobs_url, {"f": "json"})
        if job.get("status") not in ("SUBMITTED", "EXECUTING"):
            return job
        check(time.time() < deadline, f"job {jobs_url} finished in {limit} s")
        time.sleep(0.2)


def wait_status(recovery, operation, limit=300):
    deadline = time.time() + limit
    while True:
        status = recovery.backup_status
        if status.get("operation") == operation and status.get("state") not in (
            None,
            "in_progress",
        ):
            return status
        check(time.time() < deadline, f"{operation} finished in {limit} s")
        time.sleep(0.2)


# Both logins: generateToken, and the default OAuth2 sign-in.
gis = GIS(URL, USER, PASSWORD, verify_cert=False, use_gen_token=True)
check(type(gis._con._session.auth).__name__ == "EsriGenTokenAuth", "generateToken login")
check(gis.admin is not None, "the generateToken session reaches the admin API")
step("login use_gen_token=True", type(gis.admin).__name__)
pinned = GIS(URL, USER, PASSWORD, ca_bundles=CACERT, use_gen_token=True)
check(pinned.admin is not None, "a generateToken session pinning the host's certificate")
step("login use_gen_token=True, certificate pinned")
oauth = GIS(URL, USER, PASSWORD, verify_cert=False)
check(type(oauth._con._session.auth).__name__ == "EsriBuiltInAuth", "OAuth2 login")
check(type(oauth.admin).__name__ == "KubernetesAdmin", "the OAuth2 session reaches the Kubernetes admin")
check(oauth.users.me.username == USER, "the OAuth2 session's user")
step("login OAuth2", oauth.users.me.username)

admin = gis.admin
recovery = admin.system.recovery

# Settings: read, change, read back.
settings = recovery.settings
check("timeoutInSeconds" in settings, f"settings: {settings}")
recovery.settings = {"timeoutInSeconds": 3600}
check(recovery.settings["timeoutInSeconds"] == 3600, "settings updated")
recovery.settings = {"timeoutInSeconds": settings["timeoutInSeconds"]}
step("settings", recovery.settings["timeoutInSeconds"])

# Stores: the default one, then register another (async, with a job).
stores = recovery.stores
check([s.url.rsplit("/", 1)[-1] for s in stores] == ["default"], f"stores: {stores}")
check(stores[0].validate().get("isReady") is True, "the default store validates")
register_url = recovery.backupstores._url + "/register"
settings_json = {"type": "HOSTED", "rootDir": os.path.join(STORE_ROOT, "second")}
# BackupStoresManager.register posts exactly this, then hands the jobsUrl to
# a thread pool it has already shut down (a client bug that raises
# RuntimeError after the request): post the same and poll the job here.
try:
    recovery.backupstores.register("second", settings_json, False)
except RuntimeError as error:
    check("shutdown" in str(error), f"register's own client error: {error}")
newest = admin.jobs.properties["jobs"][-1]
job = wait_job(gis, f"{admin._url}/jobs/{newest}")
check(job["status"] == "COMPLETED" and job["operation"] == "RegisterStore", f"register job: {job}")
check(
    any(s.url.endswith("/second") for s in recovery.stores),
    "the store registered through BackupStoresManager.register",
)
answer = gis._con.post(
    register_url,
    {
        "f": "json",
        "storeName": "third",
        "settings": {"type": "HOSTED", "rootDir": os.path.join(STORE_ROOT, "third")},
        "isDefault": False,
        "async": True,
    },
)
check(answer.get("status") == "SUBMITTED", f"register answer: {answer}")
job = wait_job(gis, answer["jobsUrl"])
check(job["status"] == "COMPLETED", f"register job: {job}")
third = BackupStore(url=recovery.backupstores._url + "/third", gis=gis)
check(third.delete() is True, "unregister")
step("stores", [s.url.rsplit("/", 1)[-1] for s in recovery.stores])

# A backup through the 10.9 path the client uses, followed by its status.
created = recovery.backup("from-python", "default", PASSCODE, "made by arcgis 2.4.4")
check(created.get("status") == "SUBMITTED", f"backup answer: {created}")
check(created["jobsUrl"].startswith("https://"), f"jobsUrl: {created['jobsUrl']}")
status = wait_status(recovery, "Backup")
check(status["state"] == "success", f"backup status: {status}")
check(status["backupName"] == "from-python", f"backup status: {status}")
step("backup", status["overallDuration"])

backups = recovery.backups
names = [b._url.rsplit("/", 1)[-1] for b in backups]
check(names == ["from-python"], f"backups: {names}")
step("backups", names)

validated = backups[0].validate()
check(validated.get("status") == "success", f"validate: {validated}")
job = wait_job(gis, validated["jobsUrl"])
check(job["status"] == "COMPLETED", f"validate job: {job}")
step("validate", job["status"])

check(backups[0].restore("default", PASSCODE) is True, "Backup.restore returns True")
status = wait_status(recovery, "Restore")
check(status["state"] == "success", f"restore status: {status}")
step("restore", status["state"])

# A schedule: created with the reference's createTask (the client's own
# TaskManager.create_task passes itself as the URL), then managed with the
# client's Task and Run objects.
tasks_url = admin.system.tasks._url
created = gis._con.post(
    tasks_url + "/createTask",
    {
        "f": "json",
        "type": "CreateBackup",
        "title": "Nightly",
        "parameters": {"name": "nightly", "passcode": PASSCODE, "storeName": "default"},
        "minute": "0",
        "hour": "2",
        "dayOfMonth": "*",
        "month": "*",
        "dayOfWeek": "?",
    },
)
check(created.get("success") is True, f"createTask: {created}")
task = Task(f"{tasks_url}/{created['taskId']}", gis=gis)
check(task.update(title="Nightly at three", cron="0 3 * * ?") is True, "Task.update")
check(task.properties["taskTitle"] == "Nightly at three", f"task: {task.properties}")
check(task.properties["cronSchedule"]["hour"] == "3", f"task: {task.properties}")
check(task.enable(False) is True, "disable")
task._properties = None
check(task.properties["taskState"] == "paused", "disabled")
check(task.enable(True) is True, "enable")
task._properties = None
check(task.properties["taskState"] == "active", "enabled")
ran = gis._con.post(f"{task._url}/run", {"f": "json"})
check(ran.get("runId"), f"run now: {ran}")
wait_job(gis, admin._url + "/jobs/" + ran["jobid"])
runs = task.runs
check(len(runs) == 1, f"runs: {runs}")
run = runs[0]
check(run.update(status="failed", description="marked by hand") is True, "Run.update")
run._properties = None
check(run.properties["status"] == "failed", f"run: {run.properties}")
check(run.properties["result"] == "marked by hand", f"run: {run.properties}")
check(run.delete() is True, "Run.delete")
check(task.runs == [], "run deleted")
check(task.delete() is True, "Task.delete")
step("tasks", "created, updated, disabled, enabled, run, run updated and deleted, deleted")

print("SESSION COMPLETED", flush=True)
