"""aegan.data.tables on small CSV files: headers, labels, every user error."""

import numpy as np
import pytest

from aegan.data import tables
from aegan.errors import AeganError
from reader_helpers import config, escaped


# --- CSV ------------------------------------------------------------------------------------------------
def test_csv_with_header_and_named_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("height,kind,weight\n1.5,cat,3\n2,dog,-4e1\n\n0.25,cat,7\n")
    data = tables.read(path, config(label_column="kind"))
    assert data.layout == "table" and data.format == "csv"
    assert data.samples.dtype == np.float32
    np.testing.assert_array_equal(data.samples, [[1.5, 3], [2, -40], [0.25, 7]])
    assert data.feature_names == ("height", "weight") and data.label_column == "kind"
    assert data.class_names == ("cat", "dog") and data.labels.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(tables.read(path, config(label_column="kind"), memory_map=True).samples,
                                  data.samples)


def test_csv_without_header_and_numeric_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,2,0\n3,4,2\n5,6,2.0\n")
    data = tables.read(path, config(label_column="column_2"))
    assert data.feature_names == ("column_0", "column_1")
    np.testing.assert_array_equal(data.samples, [[1, 2], [3, 4], [5, 6]])
    assert data.labels.tolist() == [0, 2, 2] and data.class_names == ("0", "1", "2")
    unlabelled = tables.read(path, config())
    assert unlabelled.labels is None and unlabelled.samples.shape == (3, 3)


@pytest.mark.parametrize("cell, shown", [("", "an empty cell"), ("abc", "'abc'"), ("nan", "'nan'"),
                                         (" inf", "' inf'"), ("1e300", r"'1e300' \(too large for float32\)")])
def test_csv_bad_cells_name_the_line_column_and_text(tmp_path, cell, shown):
    path = tmp_path / "t.csv"
    path.write_text(f"a,b,label\n1,2,x\n\n3,{cell},y\n")
    with pytest.raises(AeganError, match=f"^{escaped(path)}, line 4, column 'b': {shown} is not a finite number: "
                                         "every feature cell must hold a number; correct the cell or remove the row$"):
        tables.read(path, config(label_column="label"))


def test_csv_structure_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(AeganError, match=f"{escaped(path)}, line 3: 3 cells, but the header has 2: give every row"):
        tables.read(path, config())
    path.write_text("a,b,kind\n1,2,x\n")
    with pytest.raises(AeganError, match=r"data.label_column='knd': .*t.csv has no such column \(did you mean "
                                         r"'kind'\?\); its columns are a, b, kind"):
        tables.read(path, config(label_column="knd"))
    path.write_text("a,b,kind\n1,2,\n")
    with pytest.raises(AeganError, match="t.csv, line 2, column 'kind': an empty label"):
        tables.read(path, config(label_column="kind"))
    path.write_text("a,b\n")
    with pytest.raises(AeganError, match="t.csv has a header but no data rows"):
        tables.read(path, config())
    path.write_text("")
    with pytest.raises(AeganError, match="t.csv is empty"):
        tables.read(path, config())
    path.write_text("a,a\n1,2\n")
    with pytest.raises(AeganError, match="t.csv, line 1: the header names the column 'a' more than once"):
        tables.read(path, config())
    path.write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(AeganError, match="t.csv is not UTF-8 text.*save it as UTF-8"):
        tables.read(path, config())
