"""After an ETL run: tell EventBridge when, and only when, the run wrote new rows, so that training starts on
new data only (a catch-up run that found nothing, or only bad records, starts nothing)."""

from __future__ import annotations

import json
import logging

logger = logging.getLogger(__name__)

NEW_ROWS_DETAIL_TYPE = "ETL Run Wrote Rows"


def announce_new_rows(events, manifest: dict, *, source: str, job_name: str) -> bool:
    """Put one `ETL Run Wrote Rows` event on the default bus if the run's manifest counts written rows; True if
    it did. Names, counts and locations only: no record value is in the event."""
    written = manifest["counts"]["written"]
    if not written:
        logger.info("run %s wrote no rows: no training starts", manifest["run_id"])
        return False
    detail = {
        "jobName": job_name,
        "runId": manifest["run_id"],
        "contract": manifest["contract"],
        "written": written,
        "curated": manifest["outputs"]["curated"],
    }
    response = events.put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": NEW_ROWS_DETAIL_TYPE,
                "Detail": json.dumps(detail, sort_keys=True),
                "EventBusName": "default",
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused the new-rows event: {response['Entries']}")
    logger.info("run %s wrote %d rows: announced to EventBridge as %s", manifest["run_id"], written, source)
    return True
