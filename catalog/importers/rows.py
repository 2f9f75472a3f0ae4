import csv
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class CatalogRow:
    line: int  # line number in the CSV file, for messages
    external_id: str
    name: str
    description: str
    gender: str
    category: str
    subcategory: str
    article_type: str
    colour: str
    price: Decimal
    image_path: Path
    product_group: str = ""  # blank where the catalog has no notion of one product in several colours
    department: str = ""  # the shop's section (H&M's section_name); blank where the catalog has none


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def read_csv_records(path: Path, required: list[str]) -> Iterator[tuple[int, dict[str, str] | str]]:
    """Yield (line number, record) for each row, or (line number, error) for a malformed one.

    A row with the wrong number of fields is reported, not guessed at: in the original Kaggle
    files such rows come from unquoted commas in product names.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty.")
        missing = [column for column in required if column not in header]
        if missing:
            raise ValueError(f"{path} lacks the columns {', '.join(missing)}.")
        try:
            for fields in reader:
                if not fields:
                    continue
                if len(fields) != len(header):
                    yield reader.line_num, f"expected {len(header)} fields, found {len(fields)}"
                    continue
                yield reader.line_num, dict(zip(header, fields, strict=True))
        except csv.Error as exc:
            yield reader.line_num, f"unreadable CSV ({exc})"
