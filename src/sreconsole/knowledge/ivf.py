"""The coarse vector index for large stores: spherical k-means lists that readers probe
(a few lists instead of every vector), rebuilt by the writer whenever vectors changed.
Small stores keep none: exact search is fast enough.
"""

from __future__ import annotations

import numpy as np

from sreconsole.knowledge.store_file import load_vectors

IVF_MIN_CHUNKS = 30_000
"""Below this, exact vector search is ~3 ms; above, an IVF index keeps it near 1 ms."""


def rebuild_ivf(con) -> None:
    """Coarse k-means lists for large stores (readers probe a few lists instead of
    scanning every vector). Small stores keep none: exact search is fast enough."""
    con.execute("DELETE FROM ivf_centroids")
    con.execute("DELETE FROM ivf_lists")
    n = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
    if n < IVF_MIN_CHUNKS:
        return
    ids, vecs = load_vectors(con)
    centroids, assign = kmeans_lists(vecs)
    import pyarrow as pa

    con.register(
        "_cent",
        pa.table(
            {
                "list_id": pa.array(np.arange(len(centroids)), pa.int32()),
                "vec": pa.FixedSizeListArray.from_arrays(pa.array(centroids.astype(np.float32).ravel()), centroids.shape[1]),
            }
        ),
    )
    con.execute("INSERT INTO ivf_centroids SELECT * FROM _cent")
    con.unregister("_cent")
    con.register("_lists", pa.table({"chunk_id": pa.array(ids, pa.int64()), "list_id": pa.array(assign, pa.int32())}))
    con.execute("INSERT INTO ivf_lists SELECT * FROM _lists")
    con.unregister("_lists")


def kmeans_lists(vecs: np.ndarray, iterations: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means with √n lists, trained on a sample; returns (centroids, list of each row)."""
    n = len(vecs)
    n_lists = max(1, int(np.sqrt(n)))
    rng = np.random.default_rng(seed)
    sample = vecs[rng.choice(n, size=min(n, n_lists * 40), replace=False)]
    centroids = sample[rng.choice(len(sample), size=n_lists, replace=False)].copy()
    for _ in range(iterations):
        assign = np.argmax(sample @ centroids.T, axis=1)
        for j in range(n_lists):
            members = sample[assign == j]
            if len(members):
                c = members.sum(axis=0)
                centroids[j] = c / (np.linalg.norm(c) or 1.0)
    out = np.empty(n, dtype=np.int32)
    step = 8192
    for a in range(0, n, step):
        out[a : a + step] = np.argmax(vecs[a : a + step] @ centroids.T, axis=1)
    return centroids, out
