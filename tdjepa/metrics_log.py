"""Training metrics to CSV and TensorBoard, resumable: rows past a restored step are dropped."""

import csv
from pathlib import Path

from tensorboardX import SummaryWriter


class MetricsLogger:
    """Appends `{step, metric...}` rows to `<workdir>/<name>.csv` and TensorBoard scalars."""

    def __init__(self, workdir: str | Path, name: str = "train", resume_step: int | None = None):
        self.path = Path(workdir) / f"{name}.csv"
        self.prefix = name
        self.fields: list[str] | None = None
        if self.path.exists():
            rows = read_csv(self.path)
            keep = [r for r in rows if resume_step is not None and float(r["step"]) <= resume_step]
            self.fields = list(rows[0].keys()) if rows else None
            self._rewrite(keep)
        self.writer = SummaryWriter(str(Path(workdir) / "tensorboard"))

    def _rewrite(self, rows: list[dict]) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            if self.fields is not None:
                w = csv.DictWriter(f, self.fields)
                w.writeheader()
                w.writerows(rows)
        tmp.replace(self.path)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step} | {k: float(v) for k, v in sorted(metrics.items())}
        if self.fields is None:
            self.fields = list(row)
            self._rewrite([])
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(row)
        for key, value in row.items():
            if key != "step":
                self.writer.add_scalar(f"{self.prefix}/{key}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """All rows of a metrics CSV (empty when the file has no rows)."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))
