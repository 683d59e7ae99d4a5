"""The raw text set aside while the input is read: back in order, as text, and gone once closed."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ml_code.processing.spill import TextSpill


def test_batches_come_back_in_order_as_text_with_their_quoting(tmp_path):
    with TextSpill(tmp_path, ["plan", "charge"]) as spill:
        spill.add(
            {
                "id": pa.array(["1", "2"]),
                "plan": pa.array(["basic", None]).dictionary_encode(),
                "charge": pa.array(["1.5", "x"]),
            },
            quoted=False,
        )
        spill.add({"plan": pa.array(['a "b"']), "charge": pa.nulls(1, pa.string()), "id": pa.array(["3"])}, quoted=True)
        back = [
            ({name: values.to_pylist() for name, values in batch.items()}, quoted) for batch, quoted in spill.batches()
        ]
        assert list(tmp_path.iterdir()) == []  # the file has no name: nothing is left behind, however the step ends
    assert back == [
        ({"plan": ["basic", None], "charge": ["1.5", "x"]}, False),
        ({"plan": ['a "b"'], "charge": [None]}, True),
    ]


def test_no_batch_can_be_added_once_it_is_read_back(tmp_path):
    with TextSpill(tmp_path, ["plan"]) as spill:
        spill.add({"plan": pa.array(["basic"])}, quoted=False)
        assert len(list(spill.batches())) == 1
        with pytest.raises(RuntimeError, match="no more batches"):
            spill.add({"plan": pa.array(["gold"])}, quoted=False)
