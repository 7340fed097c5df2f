"""Numba kernels. They take validated, C-contiguous arrays and scalars and
return arrays; they know nothing of scikit-learn (see DESIGN.md, "Layers").

Conventions shared by every kernel:

- ``cov`` is ``X @ D.T`` of shape (n_samples, n_components), float32 or float64;
- ``gram`` is ``D @ D.T + l2 * I`` of shape (n_components, n_components), always
  float64 (it is small, and the exact solvers need the precision);
- ``sq_norms`` holds ``||x_i||^2`` in float64;
- per-sample work happens in float64 workspaces whatever the input dtype;
- outputs are written into arrays the caller allocated, codes in ``cov``'s dtype.
"""
