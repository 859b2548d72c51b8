import json
from pathlib import Path

import pytest

from cnnzoo.reference import load_table, parse_kwargs, reference_models

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "models.json"


def test_parse_kwargs():
    assert parse_kwargs("") == {}
    assert parse_kwargs("groups=3, width_mult=1.0") == {"groups": 3, "width_mult": 1.0}
    assert parse_kwargs("aux_logits=False") == {"aux_logits": False}


def test_rows_parse():
    rows = reference_models()
    assert {"vgg16", "resnet50", "lenet5_original"} <= {r.name for r in rows}


@pytest.mark.skipif(
    not SHARED.is_file(), reason="the project's shared reference is not beside this checkout"
)
def test_packaged_copy_equals_project_reference():
    assert load_table() == json.loads(SHARED.read_text())
