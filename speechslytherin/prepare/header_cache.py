"""Audio headers of large corpora, read in a thread pool and cached so that a re-run reads none again.

The cache is a JSON file {path: [size, mtime_ns, value]}: an entry holds while the file's size and
mtime are unchanged. It is saved every CACHE_EVERY headers, so an interrupted run resumes.
"""

import concurrent.futures
import json
import os

from speechslytherin.prepare.common import PrepareError
from speechslytherin.utils.atomic import write_json_atomic

CACHE_EVERY = 2000  # headers read between cache saves (resume point)


class DurationCache:
    """Header values by path, valid while a file's size and mtime are unchanged; saved atomically."""

    def __init__(self, path):
        self.path = path
        self.entries = {}
        if path and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as f:
                    self.entries = json.load(f)
            except (OSError, json.JSONDecodeError):
                self.entries = {}  # a broken cache is only a slower run

    @staticmethod
    def stamp(path):
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]

    def get(self, path):
        hit = self.entries.get(path)
        if hit is not None and hit[:2] == self.stamp(path):
            return hit[2]
        return None

    def put(self, path, value):
        self.entries[path] = self.stamp(path) + [value]

    def save(self):
        if self.path:
            write_json_atomic(self.path, self.entries, indent=None)


def progress_bar(total, desc, enabled):
    """A tqdm bar counting utterances, or None (disabled, or tqdm not installed)."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="utt", leave=False)


def read_cached(paths, cache, problems, read, jobs=1, progress=True, desc="headers"):
    """{path: read(path)} for every path, from the cache or read in `jobs` threads and cached.

    read(path) raises PrepareError for a bad file: its message goes to problems and the path is
    left out of the result. `read` must return a JSON value (it is stored in the cache)."""
    values = {}
    todo = []
    for path in paths:
        hit = cache.get(path)
        if hit is None:
            todo.append(path)
        else:
            values[path] = hit
    bar = progress_bar(len(todo), desc, progress and bool(todo))

    def one(path):
        try:
            return path, read(path), None
        except PrepareError as err:
            return path, None, str(err)

    with concurrent.futures.ThreadPoolExecutor(max(1, int(jobs))) as pool:
        for k, (path, value, err) in enumerate(pool.map(one, todo), 1):
            if err:
                problems.append(err)
            else:
                values[path] = value
                cache.put(path, value)
            if bar is not None:
                bar.update(1)
            if k % CACHE_EVERY == 0:
                cache.save()
    if bar is not None:
        bar.close()
    if todo:
        cache.save()
    return values
