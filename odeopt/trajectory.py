"""The result of a run: :class:`Trajectory`, its status, and its files.

File contract (the README's ``--out``), chosen by extension:

* ``.npz`` — arrays ``step`` (n,), ``t`` (n,), ``theta`` (n, dim), ``loss`` (n,),
  optionally ``ref_theta`` (n, dim) and ``ref_loss`` (n,), and ``meta``, a JSON string
  with every setting, the model and its ODE parameters, the status and versions;
* ``.csv`` — columns ``step,t,loss,theta_0..theta_{d-1}`` (and ``ref_loss``,
  ``ref_theta_i``), preceded by ``# meta: {json}`` comment line;
* ``.json`` — one object with the same names plus ``meta``; non-finite numbers are
  written as ``null``.

Record 0 is the start point.  Files are written to a temporary name and renamed, so
an interrupted save never leaves a partial file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import OutputError

if TYPE_CHECKING:
    from ._problem import Problem
    from .surfaces._base import BoundSurface

FORMATS = (".npz", ".csv", ".json")


class Status(StrEnum):
    """How a run ended."""

    CONVERGED = "converged"  # the gradient norm fell below --tol
    MAX_STEPS = "max_steps"  # every requested step was taken
    DIVERGED = "diverged"  # a non-finite or exploding state stopped the run

    def __str__(self) -> str:
        return self.value


MESSAGES = {
    Status.CONVERGED: "gradient norm below tol",
    Status.MAX_STEPS: "all requested steps taken",
    Status.DIVERGED: "state became non-finite or exceeded max_norm",
}


_NOT_A_RUN = "not a run saved by odeopt run --out"
_COMPARE_TABLE = (
    "a table written by odeopt compare --out, not a run; "
    "this reads runs saved by odeopt run --out"
)


def _what_it_is(payload: Any) -> str:
    """Why a JSON file read as a run is not one (a compare table, or other)."""
    if isinstance(payload, dict) and {"rows", "align"} <= payload.keys():
        return _COMPARE_TABLE
    return f"no 'meta' record; {_NOT_A_RUN}"


def check_output_path(
    path: str | os.PathLike, formats: Sequence[str] = FORMATS
) -> Path:
    """Validate an output path before any work is done.

    ``formats`` are the accepted extensions (the trajectory formats by default;
    pictures, animations and tables pass theirs).

    Raises
    ------
    OutputError
        Unknown extension, missing folder, or a folder that is not writable.
    """
    path = Path(path)
    if path.suffix.lower() not in formats:
        raise OutputError(
            f"cannot write {str(path)!r}: unknown extension {path.suffix or '(none)'!r} "
            f"(valid: {', '.join(formats)})"
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(
            f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist"
        )
    if path.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: it is a folder")
    # os.access says yes to root everywhere: try to create a file for real.
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".odeopt-probe-"):
            pass
    except OSError as error:
        raise OutputError(
            f"cannot write {str(path)!r}: {error.strerror.lower()}"
        ) from None
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"cannot write {str(path)!r}: permission denied")
    return path


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path`` that becomes ``path`` only on success.

    The temporary name keeps the extension (writers that pick the format from it,
    such as matplotlib and Pillow, still do), and it is removed if writing fails: a
    failed write leaves no partial file.
    """
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats by None (JSON has no NaN/inf) and arrays by lists."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Enum):
        return value.value
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """JSON text with non-finite numbers as ``null`` (strict JSON)."""
    return json.dumps(_json_safe(value), allow_nan=False, **kwargs)


@dataclass
class Trajectory:
    """A recorded run of a discrete optimizer (and optionally its reference ODE).

    Attributes
    ----------
    step : ndarray, shape (n,)
        Step numbers of the records; record 0 is the start (step 0).
    t : ndarray, shape (n,)
        ODE time of each record under the optimizer's model.
    theta : ndarray, shape (n, dim)
        Parameters at each record.
    loss : ndarray, shape (n,)
        Loss at each record.
    status : Status
        How the run ended.
    steps_done : int
        Steps actually taken.
    meta : dict
        Every setting, the model and its ODE parameters, timings and versions.
    ref_theta, ref_loss : ndarray or None
        The reference ODE solution at the same ``t`` (``--reference``).
    ref_state : ndarray or None
        The reference's whole ODE state at the same ``t`` (θ and the model's
        auxiliary variables, e.g. the velocity), kept in memory only: it is not
        written to files.
    problem : Problem or None
        The problem the run was made from (:class:`odeopt.Problem`).  A loaded run
        gets it bound again from ``meta``; it is None when that cannot be done, as
        for a surface or optimizer defined outside the registry (the file holds
        only its name).
    """

    step: np.ndarray
    t: np.ndarray
    theta: np.ndarray
    loss: np.ndarray
    status: Status
    steps_done: int
    meta: dict[str, Any] = field(default_factory=dict)
    ref_theta: np.ndarray | None = None
    ref_loss: np.ndarray | None = None
    ref_state: np.ndarray | None = field(default=None, repr=False)
    problem: Problem | None = field(default=None, repr=False, compare=False)

    # -- convenience ----------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of parameters."""
        return int(self.theta.shape[1])

    @property
    def final_theta(self) -> np.ndarray:
        """The last recorded point."""
        return self.theta[-1]

    @property
    def final_loss(self) -> float:
        """The loss at the last recorded point."""
        return float(self.loss[-1])

    def __len__(self) -> int:
        return int(self.step.shape[0])

    def __repr__(self) -> str:
        meta = self.meta
        return (
            f"Trajectory({meta.get('optimizer', '?')} on {meta.get('surface', '?')}: "
            f"{len(self)} records, {self.steps_done} steps, status={self.status.value}, "
            f"final_loss={self.final_loss:.6g})"
        )

    def summary(self, surface: BoundSurface) -> dict[str, Any]:
        """The run in one JSON-ready record (``odeopt run --json`` prints it).

        Parameters
        ----------
        surface : BoundSurface
            The surface of the run: its known minimum nearest the final point and
            the distance to it are part of the record.

        Returns
        -------
        dict
            Status, final loss and point, settings, timings, the model, the
            ``nearest_minimum`` and ``distance_to_minimum`` (None when the surface
            has no known minimum), the reference's discrepancy and the recording.
        """
        meta = self.meta
        nearest = surface.nearest_minimum(self.final_theta)
        with np.errstate(all="ignore"):  # a diverged state may overflow the norm
            distance = (
                float(np.linalg.norm(self.final_theta - nearest.theta))
                if nearest is not None
                else None
            )
        return {
            "status": self.status.value,
            "final_loss": self.final_loss,
            "final_theta": self.final_theta.tolist(),
            "steps_done": self.steps_done,
            "wall_time_s": meta["wall_time_s"],
            "setup_time_s": meta["setup_time_s"],
            "optimizer": meta["optimizer"],
            "hyperparameters": meta["hyperparameters"],
            "surface": surface.name,
            "surface_params": meta["surface_params"],
            "dim": surface.dim,
            "x0": meta["x0"],
            "initial_loss": float(self.loss[0]),
            "model": meta["model"],
            "init": meta["init"],
            "t_final": float(self.t[-1]),
            "nearest_minimum": None
            if nearest is None
            else {
                "theta": nearest.theta.tolist(),
                "value": nearest.value,
                "kind": nearest.kind,
            },
            "distance_to_minimum": distance,
            "diverged_at": meta["diverged_at"],
            "reference": meta.get("reference"),
            "records": len(self),
            "record_every": meta["record_every"],
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The named arrays of the file contract (without ``meta``)."""
        out = {"step": self.step, "t": self.t, "theta": self.theta, "loss": self.loss}
        if self.ref_theta is not None:
            out["ref_theta"] = self.ref_theta
            out["ref_loss"] = self.ref_loss
        return out

    # -- files ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.npz``, ``.csv`` or ``.json`` (by extension), atomically."""
        path = check_output_path(path)
        suffix = path.suffix.lower()
        with atomic_output(path) as tmp:
            if suffix == ".npz":
                with open(tmp, "wb") as handle:
                    np.savez_compressed(
                        handle, meta=np.array(dumps(self.meta)), **self.arrays()
                    )
            elif suffix == ".csv":
                self._write_csv(tmp)
            else:
                payload = {**self.arrays(), "meta": self.meta}
                tmp.write_text(dumps(payload) + "\n")
        return path

    def _write_csv(self, path: Path) -> None:
        columns = ["step", "t", "loss"] + [f"theta_{i}" for i in range(self.dim)]
        data = [self.step, self.t, self.loss] + [
            self.theta[:, i] for i in range(self.dim)
        ]
        if self.ref_theta is not None:
            columns += ["ref_loss"] + [f"ref_theta_{i}" for i in range(self.dim)]
            data += [self.ref_loss] + [self.ref_theta[:, i] for i in range(self.dim)]
        table = np.column_stack([np.asarray(c, dtype=float) for c in data])
        with open(path, "w") as handle:
            handle.write(f"# meta: {dumps(self.meta)}\n")
            handle.write(",".join(columns) + "\n")
            for row, step in zip(table, self.step, strict=True):
                rest = ",".join(repr(float(v)) for v in row[1:])
                handle.write(f"{int(step)},{rest}\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        """Read a file written by :meth:`save`."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise OutputError(
                f"cannot read {str(path)!r}: unknown extension (valid: {', '.join(FORMATS)})"
            )
        if not path.is_file():
            raise OutputError(f"cannot read {str(path)!r}: no such file")
        where = f"cannot read {str(path)!r}"
        try:
            if suffix == ".npz":
                # opened here, so that the file is closed when np.load fails
                with (
                    open(path, "rb") as handle,
                    np.load(handle, allow_pickle=False) as data,
                ):
                    if "meta" not in data.files:
                        raise OutputError(f"{where}: no 'meta' record; {_NOT_A_RUN}")
                    arrays = {k: data[k] for k in data.files if k != "meta"}
                    meta = json.loads(str(data["meta"]))
            elif suffix == ".json":
                payload = json.loads(path.read_text())
                if not isinstance(payload, dict) or "meta" not in payload:
                    raise OutputError(f"{where}: {_what_it_is(payload)}")
                meta = payload.pop("meta")
                arrays = {
                    k: np.array(v, dtype=int if k == "step" else float)
                    for k, v in payload.items()
                }
            else:
                arrays, meta = cls._read_csv(path)
        except (zipfile.BadZipFile, EOFError):
            raise OutputError(
                f"{where}: not a complete .npz file (truncated, or not a zip archive)"
            ) from None
        except (KeyError, ValueError, OSError) as error:
            if isinstance(error, OutputError):
                raise
            raise OutputError(f"{where}: {error}") from None
        try:
            return cls.from_arrays(arrays, meta)
        except KeyError as error:
            raise OutputError(f"{where}: no {error} array; {_NOT_A_RUN}") from None

    @staticmethod
    def _read_csv(path: Path) -> tuple[dict[str, np.ndarray], dict]:
        with open(path) as handle:
            first = handle.readline()
            if not first.startswith("# meta: "):
                table = first.startswith("optimizer,")  # the header compare writes
                raise ValueError(
                    _COMPARE_TABLE if table else f"no '# meta:' line; {_NOT_A_RUN}"
                )
            meta = json.loads(first[len("# meta: ") :])
            header = handle.readline().strip().split(",")
            table = np.loadtxt(handle, delimiter=",", ndmin=2)
        column = {name: table[:, i] for i, name in enumerate(header)}
        dim = sum(1 for name in header if name.startswith("theta_"))
        arrays = {
            "step": column["step"].astype(int),
            "t": column["t"],
            "loss": column["loss"],
            "theta": np.column_stack([column[f"theta_{i}"] for i in range(dim)]),
        }
        if "ref_loss" in column:
            arrays["ref_loss"] = column["ref_loss"]
            arrays["ref_theta"] = np.column_stack(
                [column[f"ref_theta_{i}"] for i in range(dim)]
            )
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> Trajectory:
        """Build from the file contract's arrays and metadata (and the problem,
        bound again from ``meta`` where its names are registered)."""
        theta = np.asarray(arrays["theta"], dtype=float)
        if theta.ndim == 1:
            theta = theta[:, None]
        ref_theta = arrays.get("ref_theta")
        if ref_theta is not None:
            ref_theta = np.asarray(ref_theta, dtype=float).reshape(theta.shape)
        return cls(
            step=np.asarray(arrays["step"], dtype=np.int64),
            t=np.asarray(arrays["t"], dtype=float),
            theta=theta,
            loss=np.asarray(arrays["loss"], dtype=float),
            status=Status(meta.get("status", "max_steps")),
            steps_done=int(
                meta.get("steps_done", int(np.max(arrays["step"], initial=0)))
            ),
            meta=meta,
            ref_theta=ref_theta,
            ref_loss=None
            if arrays.get("ref_loss") is None
            else np.asarray(arrays["ref_loss"], dtype=float),
            problem=_problem_from_meta(meta),
        )


def _problem_from_meta(meta: dict) -> Problem | None:
    """A saved run's problem, or None when its metadata cannot give it back (a
    surface or optimizer outside the registry, metadata of another layout)."""
    from ._problem import Problem
    from .errors import OdeoptError

    try:
        return Problem.from_meta(meta)
    except (OdeoptError, KeyError, TypeError, ValueError):
        return None
