"""PostgreSQL: a task queued wakes the idle workers at its commit (jobs/wake_ups.py)."""

from django.db import migrations

TABLE = "django_tasks_database_dbtaskresult"
# Once per statement: a burst of tasks in one INSERT is one wake-up, and PostgreSQL merges
# the same notification sent twice in a transaction.
CREATE = f"""
CREATE FUNCTION openrooms_task_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('openrooms_tasks', '');
    RETURN NULL;
END $$;
CREATE TRIGGER openrooms_task_queued AFTER INSERT ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION openrooms_task_queued();
"""
DROP = f"""
DROP TRIGGER IF EXISTS openrooms_task_queued ON {TABLE};
DROP FUNCTION IF EXISTS openrooms_task_queued();
"""


def on_postgres(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_worker_heartbeats"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(on_postgres(CREATE), on_postgres(DROP))]
