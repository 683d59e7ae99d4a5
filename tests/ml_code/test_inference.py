"""inference.py: raw records in (CSV or JSON), predictions out, and errors that name the problem."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from ml_code.inference.inference import RequestError, TooManyRecords, input_fn, model_fn, output_fn, predict_fn


@pytest.fixture(scope="module")
def model(churn_model_dir):
    return model_fn(str(churn_model_dir))


@pytest.fixture(scope="module")
def raw_records(churn_prepared) -> pd.DataFrame:
    """Raw rows as the CRM export has them, PII and all: the endpoint must cope."""
    return pd.read_csv(churn_prepared.raw_csv, dtype=str).head(5)


def score(body, content_type, model, accept="application/json"):
    return output_fn(predict_fn(input_fn(body, content_type), model), accept)


def test_json_records_in_probabilities_and_labels_out(model, raw_records):
    body = raw_records.to_json(orient="records")
    payload, content_type = score(body, "application/json", model)
    predictions = json.loads(payload)["predictions"]
    assert content_type == "application/json" and len(predictions) == 5
    for prediction in predictions:
        assert 0.0 <= prediction["probability"] <= 1.0
        assert prediction["label"] == ("yes" if prediction["probability"] >= 0.5 else "no")  # as the data spells it


def test_csv_with_a_header_and_without_one_score_the_same(model, raw_records):
    with_header, _ = score(raw_records.to_csv(index=False), "text/csv", model, accept="text/csv")
    inputs = raw_records[model.transform.input_columns]
    without_header, _ = score(inputs.to_csv(index=False, header=False), "text/csv; charset=utf-8", model, "text/csv")
    assert with_header == without_header
    assert len(with_header.strip().splitlines()) == 5


def test_instances_wrapper_and_a_single_record_are_accepted(model, raw_records):
    record = raw_records.iloc[0].to_dict()
    single, _ = score(json.dumps(record), "application/json", model)
    wrapped, _ = score(json.dumps({"instances": [record]}), "application/json", model)
    assert single == wrapped


def test_unseen_categories_and_missing_values_still_score(model, raw_records):
    record = raw_records.iloc[0].to_dict() | {"plan": "platinum", "monthly_charges": None}
    payload, _ = score(json.dumps(record), "application/json", model)
    assert 0.0 <= json.loads(payload)["predictions"][0]["probability"] <= 1.0


def test_fails_when_json_is_malformed():
    with pytest.raises(RequestError, match=r"malformed JSON at line 1 column"):
        input_fn('{"plan": ', "application/json")


def test_fails_when_the_content_type_is_unsupported():
    with pytest.raises(RequestError, match=r"unsupported content type 'application/x-npy'"):
        input_fn(b"\x93NUMPY", "application/x-npy")


def test_fails_when_the_body_is_empty():
    with pytest.raises(RequestError, match=r"the request body is empty"):
        input_fn("  ", "text/csv")


def test_fails_when_a_record_lacks_a_column(model, raw_records):
    records = input_fn(raw_records.drop(columns=["plan"]).to_json(orient="records"), "application/json")
    with pytest.raises(RequestError, match=r"records lack input column\(s\) \['plan'\]"):
        predict_fn(records, model)


def test_fails_when_a_headerless_csv_row_has_the_wrong_width(model):
    with pytest.raises(RequestError, match=r"needs \d+ values in this order: account_created, plan"):
        predict_fn(input_fn("1,2,3\n", "text/csv"), model)


def test_fails_when_csv_rows_have_different_widths():
    with pytest.raises(RequestError, match=r"the same number of values; got rows with \[2, 3\]"):
        input_fn("a,b\n1,2,3\n", "text/csv")


def test_fails_when_the_accept_type_is_unsupported(model, raw_records):
    predictions = predict_fn(input_fn(raw_records.to_json(orient="records"), "application/json"), model)
    with pytest.raises(RequestError, match=r"unsupported accept type 'text/html'"):
        output_fn(predictions, "text/html")


def test_csv_lines_for_each_kind_of_prediction():
    body, _ = output_fn([{"value": 9.5}, {"probability": 0.25, "label": "not yes"}], "text/csv")
    assert body == "9.5\n0.25,not yes\n"


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status"),
    [
        ('{"plan": ', "application/json", "application/json", 400),
        ("x", "application/x-npy", "application/json", 415),
        ('{"plan": {"nested": 1}}', "application/json", "application/json", 400),
    ],
)
def test_transform_answers_a_client_error_with_its_status_and_reason(model, body, content_type, accept, status):
    from ml_code.inference.inference import transform

    answer, answer_type, code = transform(model, body, content_type, accept)
    assert code == status and answer_type == "application/json"
    assert json.loads(answer)["message"]


def test_transform_checks_the_accept_type_of_a_scorable_request(model, raw_records):
    from ml_code.inference.inference import transform

    answer, _, code = transform(model, raw_records.to_json(orient="records"), "application/json", "application/x-npy")
    assert code == 406 and "unsupported accept type" in json.loads(answer)["message"]


def test_transform_answers_200_with_predictions(model, raw_records):
    from ml_code.inference.inference import transform

    answer, answer_type, code = transform(model, raw_records.to_json(orient="records"), "application/json", "*/*")
    assert code == 200 and len(json.loads(answer)["predictions"]) == 5


def test_a_header_with_spaces_after_the_commas_is_still_a_header(model, raw_records):
    inputs = raw_records[model.transform.input_columns]
    spaced = inputs.to_csv(index=False).replace(",", ", ")
    payload, _ = score(spaced, "text/csv", model, accept="text/csv")
    expected, _ = score(inputs.to_csv(index=False), "text/csv", model, accept="text/csv")
    assert payload == expected


@pytest.mark.parametrize(
    ("rename", "missing", "unexpected"),
    [
        ({"plan": "Plan"}, "['plan']", "['Plan']"),  # a case slip
        ({"region": "sales_region"}, "['region']", "['sales_region']"),  # a renamed column
    ],
)
def test_fails_naming_the_mismatch_when_a_header_is_slightly_off(model, raw_records, rename, missing, unexpected):
    body = raw_records[model.transform.input_columns].rename(columns=rename).to_csv(index=False)
    with pytest.raises(RequestError, match=rf"looks like a header.*missing {re.escape(missing)}.*unexpected "):
        predict_fn(input_fn(body, "text/csv"), model)
    with pytest.raises(RequestError, match=re.escape(unexpected)):
        predict_fn(input_fn(body, "text/csv"), model)


def test_fails_when_a_header_of_other_names_stands_where_numbers_belong(model, raw_records):
    inputs = raw_records[model.transform.input_columns]
    renamed = inputs.set_axis([f"col{i}" for i in range(inputs.shape[1])], axis=1)
    with pytest.raises(RequestError, match=r"the first CSV row looks like a header"):
        predict_fn(input_fn(renamed.to_csv(index=False), "text/csv"), model)


def test_predictions_come_back_one_per_record_without_a_header(model, raw_records):
    inputs = raw_records[model.transform.input_columns]
    payload, _ = score(inputs.to_csv(index=False, header=False), "text/csv", model, accept="text/csv")
    assert len(payload.strip().splitlines()) == len(inputs)


def test_fails_with_a_client_error_when_json_is_nested_too_deeply():
    with pytest.raises(RequestError, match=r"nested too deeply"):
        input_fn("[" * 10_000 + "]" * 10_000, "application/json")


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_infinite_and_overflowing_numbers_are_missing_values(model, raw_records, number):
    record = raw_records.iloc[0].to_dict()
    record["monthly_charges"] = "PLACEHOLDER"
    body = json.dumps(record).replace('"PLACEHOLDER"', number)
    payload, _ = score(body, "application/json", model)
    assert 0.0 <= json.loads(payload)["predictions"][0]["probability"] <= 1.0
    csv_body = raw_records.head(1).assign(monthly_charges="inf").to_csv(index=False)
    csv_payload, _ = score(csv_body, "text/csv", model)
    assert 0.0 <= json.loads(csv_payload)["predictions"][0]["probability"] <= 1.0


def test_fails_with_a_client_error_on_a_nul_byte_in_csv(model):
    with pytest.raises(RequestError, match=r"the CSV cannot be read"):
        input_fn("basic,north\x00,card\n", "text/csv")


def test_the_size_limits_are_checked_before_parsing():
    from ml_code.settings import MAX_REQUEST_BYTES

    with pytest.raises(TooManyRecords, match=r"bytes in one request; send at most"):
        input_fn(b"x" * (MAX_REQUEST_BYTES + 1), "application/json")
    with pytest.raises(TooManyRecords, match=r"10001 lines or more"):
        input_fn("a,b\n" * 10_002, "text/csv")


def test_verbose_json_explains_each_record_by_its_largest_raw_column_contributions(model, raw_records):
    import numpy as np

    from ml_code.inference.explanations import explain
    from ml_code.inference.inference import TOP_CONTRIBUTIONS, transform

    body = raw_records.to_json(orient="records")
    answer, answer_type, code = transform(model, body, "application/json", "application/json; verbose=true")
    assert code == 200 and answer_type == "application/json"
    predictions = json.loads(answer)["predictions"]
    plain = json.loads(transform(model, body, "application/json", "application/json")[0])["predictions"]
    assert [{k: v for k, v in p.items() if k != "explanation"} for p in predictions] == plain
    exact = explain(model.booster, model.transform, raw_records)  # every column: they add up to the margin
    for row, prediction in enumerate(predictions):
        explanation = prediction["explanation"]
        contributions = explanation["contributions"]
        assert len(contributions) == TOP_CONTRIBUTIONS
        assert {c["column"] for c in contributions} <= set(model.transform.input_columns)  # raw columns, no one-hots
        sizes = [abs(c["contribution"]) for c in contributions]
        assert (
            sizes == sorted(sizes, reverse=True) and sizes[-1] >= np.sort(np.abs(exact.values[row]))[-TOP_CONTRIBUTIONS]
        )
        assert contributions == pytest.approx(exact.top(row, TOP_CONTRIBUTIONS))
        assert explanation["bias"] == pytest.approx(float(exact.bias[row]))
    assert not any("explanation" in p for p in plain)


def test_verbose_explanations_come_as_json_only(model, raw_records):
    from ml_code.inference.inference import transform

    body = raw_records.to_csv(index=False)
    answer, _, code = transform(model, body, "text/csv", "text/csv; verbose=true")
    assert code == 406 and "explanations (verbose=true) come as application/json" in json.loads(answer)["message"]
    csv_answer, _, csv_code = transform(model, body, "text/csv", "text/csv")
    assert csv_code == 200 and len(csv_answer.splitlines()) == len(raw_records)


def test_json_keys_the_model_does_not_take_are_never_made_into_columns(model, raw_records):
    """1,500 records with 100 different unknown keys each: only the model's columns become a table."""
    from ml_code.inference.inference import transform

    records = [
        {**raw_records.iloc[i % len(raw_records)].to_dict(), **{f"unknown_{i}_{k}": k for k in range(100)}}
        for i in range(1500)
    ]
    frame = input_fn(json.dumps(records), "application/json", model.transform.input_columns)
    assert list(frame.columns) == model.transform.input_columns and len(frame) == 1500
    answer, _, code = transform(model, json.dumps(records), "application/json", "application/json")
    assert code == 200 and len(json.loads(answer)["predictions"]) == 1500


def test_a_csv_row_far_wider_than_the_model_is_refused_before_it_becomes_a_table(model, monkeypatch):
    import ml_code.inference.inference as inference

    def no_table(*_args, **_kwargs):
        raise AssertionError("the row was made into a table")

    monkeypatch.setattr(inference.pd, "DataFrame", no_table)
    width = len(model.transform.input_columns)
    with pytest.raises(RequestError, match=rf"a CSV record has 3000000 values; the model takes {width}"):
        input_fn(",".join(["1"] * 3_000_000), "text/csv", model.transform.input_columns)


def test_an_integer_too_large_for_a_float_is_a_missing_value_not_a_server_error(model, raw_records):
    from ml_code.inference.inference import transform

    record = {**raw_records.iloc[0].to_dict(), "monthly_charges": 10**400}
    answer, _, code = transform(model, json.dumps(record), "application/json", "application/json")
    assert code == 200 and 0.0 <= json.loads(answer)["predictions"][0]["probability"] <= 1.0


@pytest.mark.parametrize(
    ("accept", "answered"),
    [
        ("text/csv, application/json", "text/csv"),
        ("application/json;q=0.5, text/csv", "text/csv"),
        ("application/x-npy, application/json", "application/json"),
        ("text/csv;q=0, */*", "application/json"),
    ],
)
def test_of_several_accepted_types_the_first_served_by_quality_then_order_answers(model, raw_records, accept, answered):
    from ml_code.inference.inference import transform

    _, answer_type, code = transform(model, raw_records.to_json(orient="records"), "application/json", accept)
    assert (code, answer_type) == (200, answered)


def test_a_verbose_value_other_than_true_or_false_is_refused(model, raw_records):
    from ml_code.inference.inference import transform

    body = raw_records.to_json(orient="records")
    answer, _, code = transform(model, body, "application/json", "application/json; verbose=1")
    assert code == 400 and "verbose=1 in the Accept header: use verbose=true or verbose=false" in answer
    answer, _, code = transform(model, body, "application/json", "application/json; verbose=false")
    assert code == 200 and "explanation" not in answer


def test_a_csv_of_the_most_records_with_its_header_is_scored(model, raw_records):
    from ml_code.inference.inference import transform
    from ml_code.settings import MAX_RECORDS_PER_REQUEST

    records = raw_records[model.transform.input_columns].sample(MAX_RECORDS_PER_REQUEST, replace=True, random_state=1)
    answer, _, code = transform(model, records.to_csv(index=False), "text/csv", "application/json")
    assert code == 200 and len(json.loads(answer)["predictions"]) == MAX_RECORDS_PER_REQUEST
    answer, _, code = transform(
        model, pd.concat([records, records.iloc[:1]]).to_csv(index=False), "text/csv", "application/json"
    )
    assert code == 413 and f"send at most {MAX_RECORDS_PER_REQUEST} records" in answer


def test_a_number_sent_for_a_date_is_refused_not_read_as_a_time_since_1970(model, raw_records):
    from ml_code.inference.inference import transform

    record = raw_records.iloc[0].to_dict() | {"account_created": 12345}
    answer, _, code = transform(model, json.dumps(record), "application/json", "application/json")
    assert code == 400
    assert json.loads(answer)["message"] == (
        "column 'account_created' takes dates as text (ISO 8601, as 2024-05-01); 1 record(s) send a number or "
        "true/false"
    )


def test_a_headerless_csv_in_another_column_order_is_refused_naming_the_order(model, raw_records):
    from ml_code.inference.inference import transform

    columns = model.transform.input_columns
    reordered = raw_records[columns[::-1]].head(5).to_csv(index=False, header=False)
    answer, _, code = transform(model, reordered, "text/csv", "application/json")
    message = json.loads(answer)["message"]
    assert code == 400 and re.match(r"column '\w+': none of its 5 values is a (finite number|date) \(a CSV", message)
    assert f"lists {', '.join(columns)}, in this order" in message
    assert not [value for value in raw_records.head(5).astype(str).to_numpy().ravel() if f"'{value}'" in message]


def test_what_was_imputed_is_said_per_request(model, raw_records):
    from ml_code.inference.inference import transform

    records = raw_records.head(3).to_dict(orient="records")
    records[0]["monthly_charges"], records[1]["monthly_charges"] = "a lot", 10**400
    records[2]["account_created"] = "not a date"
    answer, _, code = transform(model, json.dumps(records), "application/json", "application/json")
    assert code == 200
    assert json.loads(answer)["imputed"] == {"monthly_charges": 2, "account_created": 1}
    clean, _, _ = transform(
        model, raw_records.head(3).to_json(orient="records"), "application/json", "application/json"
    )
    assert "imputed" not in json.loads(clean)


def test_latin_1_is_refused_whether_the_server_decoded_it_or_not(model, raw_records):
    from ml_code.inference.inference import transform

    records = raw_records.head(2).copy()
    records["region"] = "Zürich"
    body = records.to_csv(index=False).encode("latin-1")
    for sent in (body, body.decode("utf-8", errors="replace")):  # as bytes, and as a server's text
        answer, _, code = transform(model, sent, "text/csv", "application/json")
        assert code == 400 and "the request body is not UTF-8 text" in json.loads(answer)["message"]


def test_a_byte_order_mark_or_spaces_around_header_names_still_name_the_columns(model, raw_records):
    from ml_code.inference.inference import transform

    columns = model.transform.input_columns
    body = raw_records[columns].head(3).to_csv(index=False)
    header, rows = body.split("\n", 1)
    for sent in ("\ufeff" + body, header.replace(",", " , ") + "\n" + rows):
        answer, _, code = transform(model, sent, "text/csv", "application/json")
        assert code == 200 and len(json.loads(answer)["predictions"]) == 3, answer


def test_a_record_with_a_category_spelled_as_a_column_name_is_a_record(model, raw_records):
    from ml_code.inference.inference import transform

    columns = model.transform.input_columns
    category = next(column for column in columns if column in model.transform.categorical)
    records = raw_records[columns].head(2).copy()
    records[category] = columns[0]  # a value that happens to be a column's name
    answer, _, code = transform(model, records.to_csv(index=False, header=False), "text/csv", "application/json")
    assert code == 200 and len(json.loads(answer)["predictions"]) == 2, answer
