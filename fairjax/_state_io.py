"""Saving and loading a fitted :class:`BarycenterState`, versioned and checked.

File format (version 1): an uncompressed ``.npz`` (a zip of ``.npy``
members, readable with ``np.load(path, allow_pickle=False)``) with

* ``header``: UTF-8 JSON as ``uint8`` bytes: ``{"format":
  "fairjax.BarycenterState", "version": 1, "fields": [{"name", "dtype",
  "shape"}, ...], "sha256": ...}``;
* one member per field, named as the field, holding its values
  (little-endian; ``bfloat16`` stored as its ``uint16`` bit pattern).

``sha256`` is the digest of the fields' raw bytes in field order. Loading
checks, in this order: a readable zip, the header, the format tag, the
version, the field names, dtypes and shapes, the digest, and finally the
state's own invariants (consistent sizes, sorted samples, weights, and the
table against a recomputation). Any failure raises ``ValueError`` naming the
file and the problem; nothing half-read is returned.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from fairjax import _barycenter, _group_sort

FORMAT = "fairjax.BarycenterState"
VERSION = 1
_FLOATS = ("float16", "bfloat16", "float32", "float64")
_DTYPES = {"cdf_counts": ("int32",), "quantile_counts": ("int32",)}
_FIELDS = _barycenter.BarycenterState._fields


def _storage(x: np.ndarray) -> np.ndarray:
  """The array as stored: little-endian; bfloat16 as its uint16 bits."""
  if x.dtype == jnp.bfloat16:
    x = x.view(np.uint16)
  return np.asarray(x, x.dtype.newbyteorder("<"), order="C")


def _digest(arrays) -> str:
  h = hashlib.sha256()
  for a in arrays:
    h.update(_storage(a).tobytes())
  return h.hexdigest()


def save_state(path: str | os.PathLike, state: _barycenter.BarycenterState
               ) -> None:
  """Writes a fitted state to ``path`` (an ``.npz`` file), atomically.

  The file is written to a temporary name in the same folder, then renamed,
  so a crash never leaves a half-written file under ``path``. No suffix is
  added to ``path``.

  Args:
    path: destination file.
    state: a :class:`BarycenterState` with concrete arrays.

  Raises:
    TypeError: ``state`` is not a :class:`BarycenterState` of concrete
      arrays.
    ValueError: its shapes or dtypes are inconsistent.

  Examples:
    >>> import os, tempfile
    >>> import jax.numpy as jnp
    >>> from fairjax._barycenter import fit_barycenter
    >>> state = fit_barycenter(jnp.arange(6.0), key=None, jitter=0.0,
    ...                        split=False,
    ...                        sensitive_features=jnp.array([0, 0, 0, 1, 1, 1]))
    >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
    >>> save_state(path, state)
    >>> loaded = load_state(path)
    >>> all(bool((a == b).all()) for a, b in zip(state, loaded))
    True
  """
  _barycenter._check_state(state)
  if not all(_barycenter._groups.is_concrete(x) for x in state):
    raise TypeError("`state` must hold concrete arrays (not traced) to save.")
  arrays = [np.asarray(x) for x in state]
  fields = list(zip(_FIELDS, arrays, strict=True))
  _check_dtypes({name: a.dtype.name for name, a in fields}, path)
  header = {
      "format": FORMAT,
      "version": VERSION,
      "fields": [
          {"name": name, "dtype": a.dtype.name, "shape": list(a.shape)}
          for name, a in fields
      ],
      "sha256": _digest(arrays),
  }
  members = {name: _storage(a) for name, a in fields}
  members["header"] = np.frombuffer(
      json.dumps(header, sort_keys=True).encode(), np.uint8)
  folder = os.path.dirname(os.path.abspath(os.fspath(path)))
  fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      np.savez(f, **members)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


class _StateFileError(ValueError):
  """A file that is not a valid state file (a ``ValueError``)."""


def _bad(path, why: str) -> ValueError:
  return _StateFileError(
      f"{os.fspath(path)!r} is not a valid fairjax state file: {why}")


def _check_dtypes(dtypes: dict, path) -> None:
  floats = {dtypes[f] for f in dtypes if f not in _DTYPES}
  if len(floats) != 1 or not floats <= set(_FLOATS):
    raise _bad(path, f"float fields must share one dtype in {_FLOATS}, got "
               f"{sorted(floats)}.")
  for name, allowed in _DTYPES.items():
    if dtypes[name] not in allowed:
      raise _bad(path, f"`{name}` must have dtype {allowed[0]}, got "
                 f"{dtypes[name]}.")


def _read_header(files, path) -> dict:
  if "header" not in files:
    raise _bad(path, "no header (not written by fairjax.save_state).")
  raw = files["header"]
  if raw.dtype != np.uint8 or raw.ndim != 1:
    raise _bad(path, "the header is not a byte string.")
  try:
    header = json.loads(raw.tobytes().decode())
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise _bad(path, f"the header is not valid JSON ({e}).") from None
  if not isinstance(header, dict) or header.get("format") != FORMAT:
    got = header.get("format") if isinstance(header, dict) else header
    raise _bad(path, f"format tag {got!r}, expected {FORMAT!r}.")
  version = header.get("version")
  if not isinstance(version, int) or version < 1:
    raise _bad(path, f"invalid format version {version!r}.")
  if version > VERSION:
    raise _bad(path, f"format version {version} was written by a newer "
               f"fairjax; this one reads versions up to {VERSION}.")
  return header


def _read_fields(files, header, path) -> list[np.ndarray]:
  fields = header.get("fields")
  names = [f.get("name") for f in fields] if isinstance(fields, list) and all(
      isinstance(f, dict) for f in fields) else None
  if names != list(_FIELDS):
    raise _bad(path, f"fields {names}, expected "
               f"{list(_FIELDS)}.")
  _check_dtypes({f["name"]: f.get("dtype") for f in fields}, path)
  arrays = []
  for f in fields:
    name, dtype, shape = f["name"], jnp.dtype(f["dtype"]), f.get("shape")
    if not (isinstance(shape, list)
            and all(isinstance(d, int) and d >= 0 for d in shape)):
      raise _bad(path, f"`{name}` has an invalid shape {shape!r}.")
    if name not in files:
      raise _bad(path, f"member `{name}` is missing.")
    stored = files[name]
    want = np.uint16 if dtype == jnp.bfloat16 else dtype
    if stored.dtype != np.dtype(want).newbyteorder("<") or list(
        stored.shape) != shape:
      raise _bad(path, f"`{name}` holds {stored.dtype}{list(stored.shape)}, "
                 f"the header says {f['dtype']}{shape}.")
    arrays.append(stored.view(dtype) if dtype == jnp.bfloat16 else stored)
  if _digest(arrays) != header.get("sha256"):
    raise _bad(path, "checksum mismatch (the file is corrupted).")
  return arrays


def _check_invariants(state, path) -> None:
  """The invariants every fitted state satisfies."""
  try:
    _barycenter._check_state(state)
  except ValueError as e:
    raise _bad(path, str(e)) from None
  h = {f: np.asarray(x, np.float64)
       for f, x in zip(_FIELDS, state, strict=True)}
  c, q = h["cdf_counts"], h["quantile_counts"]
  if (c < 0).any() or (q < 0).any() or c.sum() > h["cdf_values"].size or (
      q.sum() > h["quantile_values"].size) or ((c > 0) != (q > 0)).any():
    raise _bad(path, "inconsistent sample counts.")
  if c.sum() == 0:
    raise _bad(path, "no group has a sample.")
  for name, counts in (("cdf_values", c), ("quantile_values", q)):
    v = h[name]
    if not np.isfinite(v).all():
      raise _bad(path, f"`{name}` holds non-finite values.")
    ends = np.cumsum(counts).astype(np.int64)
    for start, end in zip(ends - counts.astype(np.int64), ends, strict=True):
      if (np.diff(v[start:end]) < 0).any():
        raise _bad(path, f"`{name}` is not sorted within each group.")
  p = h["group_weights"]
  if (not np.isfinite(p).all() or (p < 0).any() or (p[c == 0] != 0).any()
      or abs(p.sum() - 1) > 4 * p.size * float(jnp.finfo(state.table.dtype).eps)
      or not np.isfinite(h["jitter"])
      or h["jitter"] < 0):
    raise _bad(path, "invalid group weights or jitter.")
  table = _group_sort.host_table(  # numpy int64 indices: exact, no compile
      state.quantile_values, state.cdf_counts, state.quantile_counts,
      state.group_weights, length=state.table.shape[0])
  tol = 8 * float(jnp.finfo(state.table.dtype).eps) * max(
      1.0, float(np.abs(h["quantile_values"]).max(initial=0)))
  if not np.allclose(np.asarray(table, np.float64), h["table"], rtol=0,
                     atol=tol):
    raise _bad(path, "the table does not match the samples it is built from.")


def load_state(path: str | os.PathLike) -> _barycenter.BarycenterState:
  """Reads a state written by :func:`save_state`, validating everything.

  Args:
    path: a file written by :func:`save_state`.

  Returns:
    The :class:`BarycenterState`, bit-identical to the one saved.

  Raises:
    FileNotFoundError: no file at ``path``.
    ValueError: the file is truncated, corrupted, of another format or of
      a newer version, or describes an inconsistent state.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"No state file at {os.fspath(path)!r}.")
  try:
    with open(path, "rb") as fh:
      files = np.load(fh, allow_pickle=False)
      if not isinstance(files, np.lib.npyio.NpzFile):
        raise _bad(path, "not an .npz archive.")
      with files:
        header = _read_header(files, path)
        arrays = _read_fields(files, header, path)
  except _StateFileError:
    raise
  except Exception as e:  # zip, npy or zlib errors: a damaged file
    raise _bad(path, f"unreadable, truncated or corrupted "
               f"({type(e).__name__}: {e}).") from e
  if arrays[0].dtype == np.float64 and not jax.config.jax_enable_x64:
    raise ValueError(
        f"{os.fspath(path)!r} holds a float64 state; enable jax_enable_x64 "
        "to load it exactly.")
  state = _barycenter.BarycenterState(*(jnp.asarray(a) for a in arrays))
  _check_invariants(state, path)
  return state
