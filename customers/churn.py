"""Churn and customer-lifetime-value models: BG/NBD purchase counts and Gamma-Gamma spend.

Pure numpy/scipy (no Django), so the maths can be tested and benchmarked on its own.

Conventions (time unit: days), one value per customer:

* ``x``   frequency: number of repeat purchase days after the first purchase day;
* ``t_x`` recency: days from the first purchase to the last one (0 when ``x == 0``);
* ``T``   age: days from the first purchase to the end of the observation window.

The public functions keep the paper's argument names (including the upper-case ``T``, hence the
``noqa: N803`` markers) so formulas can be checked against the paper line by line.

References:

* Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
  Pareto/NBD Model", Marketing Science 24(2) -- BG/NBD, equations quoted below as (eq. N).
* Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
  Analysis", Journal of Marketing Research 42(4) -- Gamma-Gamma spend model.

Fitting on compressed patterns
------------------------------
The BG/NBD likelihood of a customer depends only on the triple (x, t_x, T), and with day
resolution real customer bases repeat the same triples a lot (1M customers give a few hundred
thousand distinct triples).  Fit on the distinct triples weighted by their counts, predict on
the triples, then map back::

    x_u, t_u, T_u, counts, inverse = compress_patterns(x, t_x, T)
    params = fit_bgnbd(x_u, t_u, T_u, weights=counts)
    p_alive = bgnbd_p_alive(params, x_u, t_u, T_u)[inverse]  # one value per customer

The weighted fit is the same maximisation as the unweighted one on the raw rows (the weights
multiply the per-pattern log-likelihoods), so the estimates agree to optimiser tolerance.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, linalg, optimize, special

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
# Mean negative log-likelihood and its gradient, both as functions of the log-parameters.
Objective = Callable[[FloatArray], tuple[float, FloatArray]]

MIN_CUSTOMERS_BGNBD = 30
MIN_CUSTOMERS_GAMMA_GAMMA = 20
PARAM_LOWER = 1e-4
PARAM_UPPER = 1e5
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12.0

_LOG_BOUNDS = (math.log(PARAM_LOWER), math.log(PARAM_UPPER))
# The objective is the mean negative log-likelihood per customer (O(1..10)), so these are
# absolute-ish tolerances; tight enough that a fit on patterns and on raw rows agree to ~1e-7.
_OPTIMISER_OPTIONS = {"maxiter": 5000, "ftol": 1e-14, "gtol": 1e-9, "maxcor": 20}
# L-BFGS-B sometimes stops with a line-search warning when it is already at the optimum to
# machine precision; a projected gradient this small (per customer) is accepted as converged.
_ACCEPTABLE_PROJECTED_GRADIENT = 1e-5
# Tolerance for recency slightly above age due to float noise in callers' date arithmetic.
_RECENCY_SLACK = 1e-9
# Below this distance from a == 1 the closed-form expectation is 0/0; see _alive_expected_purchases.
_A_EQUALS_ONE_GAP = 1e-6
# Short-horizon power series used while its terms shrink at least this fast: <= 13 terms
# for full precision, and the closed form no longer cancels badly beyond it.
_MAX_SERIES_RATIO = 0.05
# Hypergeometric c parameter below which scipy's hyp2f1 is near its poles (c = 0, -1, ...).
_MIN_SAFE_HYP2F1_C = 0.25


class ModelFitError(ValueError):
    """Raised when a model cannot be fitted to the data given (too few or degenerate rows)."""


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters (time unit: days) plus fit diagnostics; all four parameters > 0."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float | None = None
    n_customers: int = 0
    # False when a parameter ended on its bound (PARAM_LOWER/PARAM_UPPER): the data do not
    # pin the model down, so predictions are usable but the parameters are not meaningful.
    converged: bool = True

    def __post_init__(self) -> None:
        _check_positive_params(r=self.r, alpha=self.alpha, a=self.a, b=self.b)


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma spend parameters plus fit diagnostics; all three parameters > 0."""

    p: float
    q: float
    gamma: float
    log_likelihood: float | None = None
    n_customers: int = 0
    # As for BGNBDParams.
    converged: bool = True

    def __post_init__(self) -> None:
        _check_positive_params(p=self.p, q=self.q, gamma=self.gamma)

    @property
    def population_mean_spend(self) -> float:
        """Mean spend per transaction of a customer with no history: p * gamma / (q - 1)."""
        if self.q <= 1.0:
            raise ValueError("the Gamma-Gamma mean spend only exists for q > 1")
        return self.p * self.gamma / (self.q - 1.0)


def _check_positive_params(**params: float) -> None:
    """Raise ValueError unless every given model parameter is finite and > 0."""
    for name, value in params.items():
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"parameter {name} must be finite and > 0, got {value!r}")


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def _as_finite(name: str, values: ArrayLike) -> FloatArray:
    """values as a float64 array; ValueError if any entry is nan or infinite."""
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _customer_arrays(
    x: ArrayLike, t_x: ArrayLike, age: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, tuple[int, ...]]:
    """Validated, broadcast, flattened float64 copies of (x, t_x, T) plus the broadcast shape."""
    xa, ta, age = np.broadcast_arrays(
        _as_finite("x", x), _as_finite("t_x", t_x), _as_finite("T", age)
    )
    shape = xa.shape
    xa, ta, age = (np.array(v, dtype=np.float64).reshape(-1) for v in (xa, ta, age))
    if np.any(xa < 0) or np.any(xa != np.round(xa)):
        # Whole numbers keep b + x - 1 > 0 for every repeat customer.
        raise ValueError("x must be non-negative whole numbers")
    if np.any(age < 0) or np.any(ta < 0):
        raise ValueError("t_x and T must be non-negative")
    if np.any(ta > age * (1.0 + _RECENCY_SLACK) + _RECENCY_SLACK):
        raise ValueError("t_x must not exceed T")
    np.minimum(ta, age, out=ta)
    return xa, ta, age, shape


def _weights_for(weights: ArrayLike | None, n: int) -> FloatArray:
    """n validated non-negative finite weights (all ones when weights is None)."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = _as_finite("weights", weights).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"weights has {w.shape[0]} entries, expected {n}")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    return w


def _horizon(horizon: ArrayLike) -> FloatArray:
    """horizon as a float64 array; ValueError unless finite and non-negative."""
    h = _as_finite("horizon", horizon)
    if np.any(h < 0):
        raise ValueError("horizon must be non-negative")
    return h


def _customer_horizon_arrays(
    x: ArrayLike, t_x: ArrayLike, age: ArrayLike, horizon: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, tuple[int, ...]]:
    """Validated flat (x, t_x, T, horizon) broadcast against each other, plus their shape."""
    xa, ta, age, shape = _customer_arrays(x, t_x, age)
    h = _horizon(horizon)
    out_shape = np.broadcast_shapes(shape, h.shape)
    xa, ta, age, h = (
        np.array(np.broadcast_to(v, out_shape), dtype=np.float64).reshape(-1)
        for v in (xa.reshape(shape), ta.reshape(shape), age.reshape(shape), h)
    )
    return xa, ta, age, h, out_shape


def compress_patterns(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray, IntArray]:
    """Distinct (x, t_x, T) rows with their counts; ``rows_u[inverse]`` rebuilds the input."""
    xa, ta, age, _ = _customer_arrays(x, t_x, T)
    first, inverse = _group_rows(xa, ta, age)
    counts = np.bincount(inverse, minlength=first.shape[0]).astype(np.int64)
    return xa[first], ta[first], age[first], counts, inverse


def _group_rows(*columns: FloatArray) -> tuple[IntArray, IntArray]:
    """Index of one representative per distinct row (in sorted order) and each row's group."""
    n = columns[0].shape[0]
    # lexsort + run boundaries: ~8x faster than np.unique(axis=0), which sorts void rows.
    order = np.lexsort(columns[::-1])
    changed = np.zeros(max(n - 1, 0), dtype=bool)
    for col in columns:
        ordered = col[order]
        changed |= ordered[1:] != ordered[:-1]
    starts = np.concatenate(([True], changed)) if n else np.zeros(0, dtype=bool)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    return order[starts], inverse


def _dot(u: FloatArray, v: FloatArray) -> float:
    """Inner product of two 1-D float arrays without going through BLAS."""
    # BLAS ddot spins up threads; on a busy 2-core box that made each likelihood evaluation
    # 2-3x slower than numpy's own single-threaded SIMD loop used by einsum.
    return float(np.einsum("i,i->", u, v))


# --------------------------------------------------------------------------------------------
# Maximum likelihood helper
# --------------------------------------------------------------------------------------------


def _maximise(
    objective: Objective, theta0: FloatArray, model: str
) -> tuple[FloatArray, float, bool]:
    """Minimise a mean negative log-likelihood over bounded log-parameters; raise on failure."""
    bounds = [_LOG_BOUNDS] * theta0.shape[0]
    with np.errstate(all="ignore"):
        res = optimize.minimize(
            objective,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options=_OPTIMISER_OPTIONS,
        )
        theta = res.x
        fun, grad = objective(theta)
    if not (np.isfinite(fun) and np.all(np.isfinite(theta)) and np.all(np.isfinite(grad))):
        raise ModelFitError(f"{model} fit produced a non-finite likelihood ({res.message})")
    lo, hi = _LOG_BOUNDS
    at_lower = theta <= lo + 1e-8
    at_upper = theta >= hi - 1e-8
    # At a bound only the gradient component pointing back inside matters (KKT conditions).
    projected = np.where((at_lower & (grad > 0)) | (at_upper & (grad < 0)), 0.0, grad)
    small_gradient = float(np.max(np.abs(projected))) <= _ACCEPTABLE_PROJECTED_GRADIENT
    if not (res.success or small_gradient):
        raise ModelFitError(f"{model} optimiser did not converge: {res.message}")
    converged = not bool(np.any(at_lower | at_upper))
    if converged:
        theta, fun = _newton_polish(objective, theta, fun, grad)
    return theta, fun, converged


def _newton_polish(
    objective: Objective, theta: FloatArray, fun: float, grad: FloatArray
) -> tuple[FloatArray, float]:
    """One safeguarded Newton step from an interior optimum; kept only if it helps."""
    # L-BFGS-B stops on a relative-decrease test, which leaves the weakly identified directions
    # (a and b trade off) off by up to ~1e-6.  A Newton step with a Hessian from central
    # differences of the analytic gradient lands at the optimum to ~1e-10, so fits on raw rows
    # and on weighted patterns agree and repeated fits are reproducible.
    n = theta.shape[0]
    step = 1e-5
    hessian = np.empty((n, n))
    with np.errstate(all="ignore"):
        for i in range(n):
            shift = np.zeros(n)
            shift[i] = step
            hessian[:, i] = (objective(theta + shift)[1] - objective(theta - shift)[1]) / (
                2.0 * step
            )
        hessian = 0.5 * (hessian + hessian.T)
        try:
            factor = linalg.cho_factor(hessian)
        except linalg.LinAlgError:
            return theta, fun  # not locally convex (flat ridge): keep the L-BFGS-B answer
        candidate = np.clip(theta - linalg.cho_solve(factor, grad), *_LOG_BOUNDS)
        new_fun, new_grad = objective(candidate)
    # So close to the optimum the objective changes by less than its rounding noise, so judge
    # the step by the gradient and only require the objective not to get measurably worse.
    not_worse = new_fun <= fun + 1e-13 * max(1.0, abs(fun))
    flatter = np.max(np.abs(new_grad)) < np.max(np.abs(grad))
    if np.isfinite(new_fun) and np.all(np.isfinite(new_grad)) and not_worse and flatter:
        return candidate, float(new_fun)
    return theta, fun


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


def _bgnbd_objective(x: FloatArray, t_x: FloatArray, age: FloatArray, w: FloatArray) -> Objective:
    """Mean negative log-likelihood and its gradient w.r.t. log(r, alpha, a, b)."""
    # Per customer, with lambda and p integrated out, ln L = A1 + A2 + ln(e^A3 + [x > 0] e^A4)
    # where, writing lnG for the log-gamma function,
    #   A1 is lnG(r+x) - lnG(r) + r ln(alpha),
    #   A2 is the log of Beta(a, b+x) / Beta(a, b) expanded into lnG terms,
    #   A3 is -(r+x) ln(alpha+T), and
    #   A4 is ln(a) - ln(b+x-1) - (r+x) ln(alpha+t_x).
    # Written as A1 + A2 + A3 + softplus(A4 - A3), where A4 - A3 is the log-odds of "dead"
    # (see _log_odds_dead), the A1, A2 and A3 sums only need the few distinct x and T values;
    # just the softplus term needs a pass over the repeat patterns per evaluation.
    total = float(w.sum())
    xu, ix = np.unique(x, return_inverse=True)
    w_x = np.bincount(ix.reshape(-1), weights=w)
    age_u, i_age = np.unique(age, return_inverse=True)
    i_age = i_age.reshape(-1)
    w_age = np.bincount(i_age, weights=w)
    wx_age = np.bincount(i_age, weights=w * x)
    rep = x > 0
    x_r, t_r, age_r, w_r = x[rep], t_x[rep], age[rep], w[rep]
    x_r_minus_1 = x_r - 1.0

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(theta)
        ab = a + b
        ll = _dot(
            w_x,
            special.gammaln(r + xu)
            - special.gammaln(r)
            + special.gammaln(ab)
            + special.gammaln(b + xu)
            - special.gammaln(b)
            - special.gammaln(ab + xu),
        )
        log_alpha = math.log(alpha)
        ll += total * r * log_alpha
        g_r = _dot(w_x, special.digamma(r + xu) - special.digamma(r)) + total * log_alpha
        g_alpha = total * r / alpha
        dig_ab_x = special.digamma(ab + xu)
        g_a = _dot(w_x, special.digamma(ab) - dig_ab_x)
        g_b = _dot(
            w_x, special.digamma(ab) + special.digamma(b + xu) - special.digamma(b) - dig_ab_x
        )

        log_alpha_age = np.log(alpha + age_u)
        coef = r * w_age + wx_age
        ll -= _dot(coef, log_alpha_age)
        g_r -= _dot(w_age, log_alpha_age)
        g_alpha -= _dot(coef, 1.0 / (alpha + age_u))

        if x_r.size:
            inv_age = 1.0 / (alpha + age_r)
            inv_t = 1.0 / (alpha + t_r)
            log_ratio = np.log((alpha + age_r) * inv_t)
            shape = r + x_r
            inv_bx = 1.0 / (b + x_r_minus_1)
            d = math.log(a) + np.log(inv_bx) + shape * log_ratio
            ll += _dot(w_r, np.logaddexp(0.0, d))
            ws = w_r * special.expit(d)
            g_r += _dot(ws, log_ratio)
            g_alpha += _dot(ws, shape * (inv_age - inv_t))
            g_a += float(ws.sum()) / a
            g_b -= _dot(ws, inv_bx)

        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        return -ll / total, -grad / total

    return objective


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    weights: ArrayLike | None = None,
) -> BGNBDParams:
    """Maximum-likelihood BG/NBD fit; raises ModelFitError on too few/degenerate customers."""
    xa, ta, age, _ = _customer_arrays(x, t_x, T)
    w = _weights_for(weights, xa.shape[0])
    keep = w > 0
    xa, ta, age, w = xa[keep], ta[keep], age[keep], w[keep]
    n_customers = float(w.sum())
    if n_customers < MIN_CUSTOMERS_BGNBD:
        raise ModelFitError(
            f"BG/NBD needs at least {MIN_CUSTOMERS_BGNBD} customers, got {n_customers:g}"
        )
    repeat_purchases = _dot(w, xa)
    if repeat_purchases <= 0:
        raise ModelFitError("BG/NBD cannot be fitted: no customer has a repeat purchase")
    if _dot(w, age) <= 0:
        raise ModelFitError("BG/NBD cannot be fitted: every customer has age 0")

    # Start at r = 1 with alpha matching the observed purchase rate (ignoring dropout), and an
    # uninformative a = b = 1; log-space L-BFGS-B is insensitive to the start in practice.
    r0 = 1.0
    alpha0 = r0 * _dot(w, age) / repeat_purchases
    start = np.log(np.clip([r0, alpha0, 1.0, 1.0], PARAM_LOWER * 10, PARAM_UPPER / 10))
    objective = _bgnbd_objective(xa, ta, age, w)
    theta, mean_nll, converged = _maximise(objective, start, "BG/NBD")
    r, alpha, a, b = (float(v) for v in np.exp(theta))
    return BGNBDParams(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=-mean_nll * n_customers,
        n_customers=round(n_customers),
        converged=converged,
    )


def _log_odds_dead(
    params: BGNBDParams, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    """log[(1 - P(alive)) / P(alive)] for repeat customers (x > 0 required)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    # log1p of the relative gap keeps precision when t_x is close to T.
    log_ratio = np.log1p((age - t_x) / (alpha + t_x))
    return math.log(a) - np.log(b + x - 1.0) + (r + x) * log_ratio


def _p_alive_flat(
    params: BGNBDParams, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    """P(alive) for validated flat arrays; 1 where x == 0."""
    out = np.ones_like(x)
    rep = x > 0
    if np.any(rep):
        # expit(-d) = 1 / (1 + e^d) without overflow for very large x or T.
        out[rep] = special.expit(-_log_odds_dead(params, x[rep], t_x[rep], age[rep]))
    return out


def bgnbd_p_alive(
    params: BGNBDParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
) -> FloatArray:
    """P(alive at T | x, t_x, T) in [0, 1]; exactly 1 for customers without repeat purchases."""
    xa, ta, age, shape = _customer_arrays(x, t_x, T)
    return _p_alive_flat(params, xa, ta, age).reshape(shape)


# E[purchases in (T, T+t] | alive at T, x] -- "alive expectation" below -- is eq. 10 without its
# P(alive) denominator.  Three evaluations, each used where it is accurate:
#
# * a power series in k = t/(alpha+T) for short horizons, where the closed form subtracts
#   nearly equal numbers;
# * the closed form with scipy's hyp2f1 otherwise;
# * adaptive quadrature of the defining integral where hyp2f1 is near a pole or fails.


def _alive_expected_series(s: FloatArray, a: float, c: FloatArray, k: FloatArray) -> FloatArray:
    """Alive expectation as s k 3F2(1, a, s+1; 2, c+1; -k); needs a small term ratio."""
    # Pfaff's transformation turns the eq. 10 bracket into 1 - 2F1(s, a-1; c; -k); expanding
    # it and dividing by (a-1)/c term by term gives this series, which has no 0/0 at a = 1
    # and no cancellation for small k (the first term, s k, dominates).
    term = np.ones_like(k)
    total = np.ones_like(k)
    for n in range(200):
        term *= (s + 1.0 + n) * (a + n) / ((c + 1.0 + n) * (2.0 + n)) * -k
        total += term
        if np.all(np.abs(term) <= 1e-17 * np.abs(total)):
            break
    return s * k * total


def _series_ratio_bound(s: FloatArray, a: float, c: FloatArray, k: FloatArray) -> FloatArray:
    """Upper bound on |term ratio| of _alive_expected_series over all n."""
    return k * np.maximum(1.0, (s + 1.0) / (c + 1.0)) * max(1.0, a / 2.0)


def _alive_expected_hyp2f1(
    r: float, alpha: float, a: float, b: float, x: FloatArray, age: FloatArray, t: FloatArray
) -> FloatArray:
    """Closed-form alive expectation for a != 1 and c > 0 (may contain nan/inf on failure)."""
    #   (a+b+x-1)/(a-1) * [1 - (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],  z = t/(alpha+T+t).
    # Euler's transformation 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns the bracket
    # into 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): x only enters through C, so the
    # series stays tame for large x (the original form has huge A, B there).
    c = a + b + x - 1.0
    log_one_minus_z = -np.log1p(t / (alpha + age))  # exact even for t << alpha + T
    z = t / (alpha + age + t)
    f = special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    # Split 1 - (1-z)^(a-1) F as -expm1(u) - e^u (F - 1) so neither part cancels when a ~ 1.
    u = (a - 1.0) * log_one_minus_z
    result = c / (a - 1.0) * (-np.expm1(u) - np.exp(u) * (f - 1.0))
    bad = ~np.isfinite(result)
    if np.any(bad):
        # Fall back to the untransformed form, which scipy evaluates through a different path.
        s = r + x[bad]
        f_orig = special.hyp2f1(s, b + x[bad], c[bad], z[bad])
        u_orig = s * log_one_minus_z[bad]
        result[bad] = c[bad] / (a - 1.0) * (-np.expm1(u_orig) - np.exp(u_orig) * (f_orig - 1.0))
    return result


def _alive_expected_quad(
    r: float, alpha: float, a: float, b: float, x: float, age: float, t: float
) -> float:
    """Alive expectation by adaptive quadrature of its defining integral over dropout p."""
    # An alive customer has posterior lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x).  With
    # fixed (lambda, p), E[purchases in t] = (1 - exp(-lambda p t)) / p (purchases at rate
    # lambda, each followed by dropout with prob. p); averaging over lambda gives
    # g(p) = (1 - (1 + p k)^-(r+x)) / p, k = t/(alpha+T).  Integrate g against the Beta density
    # in log p on (0, 1/2] and in log(1-p) on [1/2, 1): both integrands are bounded, smooth and
    # decay exponentially, whereas in p the density can be singular at either end.
    # Slow (two quads per call), so only a fallback.
    if t <= 0:
        return 0.0
    k = t / (alpha + age)
    s = r + x
    bx = b + x
    log_beta = float(special.betaln(a, bx))

    def g(p: float) -> float:
        return -math.expm1(-s * math.log1p(p * k)) / p if p > 0.0 else s * k

    def low(v: float) -> float:  # v = log p; dp = p dv
        p = math.exp(v)
        return g(p) * math.exp(a * v + (bx - 1.0) * math.log1p(-p) - log_beta)

    def high(w: float) -> float:  # w = log(1 - p); dp = -(1 - p) dw
        p = -math.expm1(w)
        return g(p) * math.exp((a - 1.0) * math.log(p) + bx * w - log_beta)

    with warnings.catch_warnings():
        # Accuracy warnings concern the last digits; the result is still the best available.
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        half = math.log(0.5)
        lower, _ = integrate.quad(low, -np.inf, half, limit=200, epsabs=0.0, epsrel=1e-11)
        upper, _ = integrate.quad(high, -np.inf, half, limit=200, epsabs=0.0, epsrel=1e-11)
    return lower + upper


def _alive_expected_purchases(
    params: BGNBDParams, x: FloatArray, age: FloatArray, t: FloatArray
) -> FloatArray:
    """Alive expectation E[purchases in (T, T+t] | alive at T, x]: finite and >= 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    s = r + x
    c = a + b + x - 1.0
    k = t / (alpha + age)
    out = np.zeros_like(x)
    with np.errstate(all="ignore"):
        # Near a = 1 the closed form divides by a - 1, so lean on the series for longer.
        max_ratio = 0.5 if abs(a - 1.0) < 1e-3 else _MAX_SERIES_RATIO
        series = (t > 0) & (_series_ratio_bound(s, a, c, k) <= max_ratio)
        out[series] = _alive_expected_series(s[series], a, c[series], k[series])
        closed = (t > 0) & ~series & (c >= _MIN_SAFE_HYP2F1_C)
        if abs(a - 1.0) < _A_EQUALS_ONE_GAP:
            # The closed form is 0/0 at a == 1 but smooth in a: interpolating linearly between
            # a = 1 -+ gap is exact to O(gap^2) and avoids the cancellation.
            args = (x[closed], age[closed], t[closed])
            below = _alive_expected_hyp2f1(r, alpha, 1.0 - _A_EQUALS_ONE_GAP, b, *args)
            above = _alive_expected_hyp2f1(r, alpha, 1.0 + _A_EQUALS_ONE_GAP, b, *args)
            weight = (a - 1.0 + _A_EQUALS_ONE_GAP) / (2.0 * _A_EQUALS_ONE_GAP)
            out[closed] = below + weight * (above - below)
        else:
            out[closed] = _alive_expected_hyp2f1(r, alpha, a, b, x[closed], age[closed], t[closed])
        # Slightly negative values are rounding noise of a non-negative quantity, not failures.
        slow = (t > 0) & ~series & (~closed | ~np.isfinite(out) | (out < -1e-9))
    if np.any(slow):
        x_s, age_s, t_s = x[slow], age[slow], t[slow]
        first, inverse = _group_rows(x_s, age_s, t_s)
        values = np.array(
            [_alive_expected_quad(r, alpha, a, b, x_s[i], age_s[i], t_s[i]) for i in first],
            dtype=np.float64,
        )
        out[slow] = values[inverse]
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=np.finfo(np.float64).max), 0.0, None)


def bgnbd_expected_purchases(
    params: BGNBDParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    horizon: ArrayLike,
) -> FloatArray:
    """E[number of purchases in (T, T+horizon] | x, t_x, T] (eq. 10); finite and >= 0."""
    xa, ta, age, h, out_shape = _customer_horizon_arrays(x, t_x, T, horizon)
    alive = _p_alive_flat(params, xa, ta, age)
    return (alive * _alive_expected_purchases(params, xa, age, h)).reshape(out_shape)


def bgnbd_prob_purchase_within(
    params: BGNBDParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    horizon: ArrayLike,
) -> FloatArray:
    """P(at least one purchase in (T, T+horizon] | x, t_x, T), in [0, 1]."""
    # A dead customer never buys again.  An alive one has posterior lambda ~ Gamma(r+x,
    # alpha+T): given "alive", the likelihood in lambda is lambda^x e^(-lambda T), independent
    # of p.  In BG/NBD dropout can only happen right *after* a purchase, so an alive customer
    # cannot die before their next purchase: P(no purchase in t | alive, lambda) = e^(-lambda t)
    # exactly, and averaging over the Gamma posterior gives ((alpha+T)/(alpha+T+t))^(r+x).
    # Hence P = P(alive) * (1 - ((alpha+T)/(alpha+T+t))^(r+x)), with no approximation.
    xa, ta, age, h, out_shape = _customer_horizon_arrays(x, t_x, T, horizon)
    alpha = params.alpha
    log_no_purchase = -(params.r + xa) * np.log1p(h / (alpha + age))
    # -expm1 keeps precision for short horizons where the probability is tiny.
    prob = _p_alive_flat(params, xa, ta, age) * -np.expm1(log_no_purchase)
    return np.clip(prob, 0.0, 1.0).reshape(out_shape)


def bgnbd_unconditional_expected(params: BGNBDParams, t: ArrayLike) -> FloatArray:
    """E[X(t)]: expected repeat purchases in (0, t] for a brand-new customer (eq. 9)."""
    h = _horizon(t)
    flat = h.reshape(-1)
    zeros = np.zeros_like(flat)
    # Eq. 9 is eq. 10 at x = t_x = T = 0 (then P(alive) = 1), so reuse the robust evaluation.
    return _alive_expected_purchases(params, zeros, zeros, flat).reshape(h.shape)


def _simulate(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    age: ArrayLike,
    rng: np.random.Generator,
    record: bool,
) -> tuple[FloatArray, FloatArray, FloatArray, list[tuple[IntArray, FloatArray]]]:
    """Shared BG/NBD simulator: (x, t_x, ages, per-purchase (customer, time) chunks)."""
    _check_positive_params(r=r, alpha=alpha, a=a, b=b)
    if n < 0:
        raise ValueError("n must be >= 0")
    ages = np.array(np.broadcast_to(_as_finite("T", age), (n,)), dtype=np.float64)
    if np.any(ages < 0):
        raise ValueError("T must be non-negative")
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    x = np.zeros(n, dtype=np.float64)
    t_x = np.zeros(n, dtype=np.float64)
    last = np.zeros(n, dtype=np.float64)
    active = np.arange(n)
    chunks: list[tuple[IntArray, FloatArray]] = [(np.arange(n), np.zeros(n))] if record else []
    # One iteration per purchase index over the customers still buying, so the Python loop
    # runs max(x) + 1 times rather than once per customer.
    with np.errstate(divide="ignore"):
        while active.size:
            t_next = last[active] + rng.exponential(1.0, active.size) / lam[active]
            inside = t_next <= ages[active]
            active, t_next = active[inside], t_next[inside]
            x[active] += 1.0
            t_x[active] = t_next
            if record:
                chunks.append((active, t_next))
            # BG/NBD: after each repeat purchase the customer drops out with probability p.
            stays = rng.random(active.size) >= p[active]
            active, t_next = active[stays], t_next[stays]
            last[active] = t_next
    return x, t_x, ages, chunks


def simulate_bgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: ArrayLike,  # noqa: N803
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Draw (x, t_x, T) for n customers from the BG/NBD generative process; T scalar or (n,)."""
    x, t_x, ages, _ = _simulate(n, r, alpha, a, b, T, rng, record=False)
    return x, t_x, ages


def simulate_bgnbd_purchase_times(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: ArrayLike,  # noqa: N803
    rng: np.random.Generator,
) -> tuple[IntArray, FloatArray, FloatArray]:
    """(customer index, purchase time, ages): all purchases incl. the first at 0, sorted."""
    _, _, ages, chunks = _simulate(n, r, alpha, a, b, T, rng, record=True)
    customer = np.concatenate([c for c, _ in chunks]).astype(np.int64)
    times = np.concatenate([t for _, t in chunks])
    # Chunks are in purchase order, so a stable sort by customer keeps times ascending.
    order = np.argsort(customer, kind="stable")
    return customer[order], times[order], ages


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


def _gamma_gamma_objective(x: FloatArray, m: FloatArray, w: FloatArray) -> Objective:
    """Mean negative log-likelihood of mean spends and its gradient w.r.t. log(p, q, gamma)."""
    # ln f(mbar | x) = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + px ln(x) + (px-1) ln(mbar)
    #                  - (px+q) ln(gamma + x mbar)
    # (mbar is the mean of x iid Gamma(p, nu) spends, nu ~ Gamma(q, gamma)).  Terms in x only
    # are aggregated over the distinct x values; the rest are constant dot products.
    total = float(w.sum())
    xu, ix = np.unique(x, return_inverse=True)
    w_x = np.bincount(ix.reshape(-1), weights=w)
    log_m = np.log(m)
    sum_wx_logx = _dot(w, x * np.log(x))
    sum_wx_logm = _dot(w, x * log_m)
    sum_w_logm = _dot(w, log_m)
    xm = x * m
    wx = w * x

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        p, q, gamma = np.exp(theta)
        px = p * xu
        log_gxm = np.log(gamma + xm)
        ll = _dot(w_x, special.gammaln(px + q) - special.gammaln(px))
        ll += total * (q * math.log(gamma) - special.gammaln(q))
        ll += p * (sum_wx_logx + sum_wx_logm) - sum_w_logm
        ll -= p * _dot(wx, log_gxm) + q * _dot(w, log_gxm)
        dig = special.digamma(px + q)
        g_p = _dot(w_x * xu, dig - special.digamma(px))
        g_p += sum_wx_logx + sum_wx_logm - _dot(wx, log_gxm)
        g_q = _dot(w_x, dig) + total * (math.log(gamma) - special.digamma(q))
        g_q -= _dot(w, log_gxm)
        inv = 1.0 / (gamma + xm)
        g_gamma = total * q / gamma - p * _dot(wx, inv) - q * _dot(w, inv)
        grad = np.array([g_p * p, g_q * q, g_gamma * gamma])
        return -ll / total, -grad / total

    return objective


def fit_gamma_gamma(
    x: ArrayLike, mean_spend: ArrayLike, weights: ArrayLike | None = None
) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma fit on repeat customers; guarantees q > 1 or raises."""
    xa, ma = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(mean_spend, np.float64))
    xa, ma = xa.reshape(-1), ma.reshape(-1)
    w = _weights_for(weights, xa.shape[0])
    # Customers without repeat purchases carry no spend information here (their first purchase
    # is excluded by construction), and a zero/non-finite mean has zero likelihood.
    usable = np.isfinite(xa) & np.isfinite(ma) & (xa > 0) & (ma > 0) & (w > 0)
    xa, ma, w = xa[usable], ma[usable], w[usable]
    n_customers = float(w.sum())
    if n_customers < MIN_CUSTOMERS_GAMMA_GAMMA:
        raise ModelFitError(
            f"Gamma-Gamma needs at least {MIN_CUSTOMERS_GAMMA_GAMMA} repeat customers with "
            f"positive spend, got {n_customers:g}"
        )
    mean_m = _dot(w, ma) / n_customers
    if not np.any(ma != ma[0]):
        raise ModelFitError("Gamma-Gamma cannot be fitted: every customer has the same spend")
    # Start with q = 2 and gamma so that the population mean p*gamma/(q-1) equals the observed
    # mean spend; p = 1.
    start = np.log(np.clip([1.0, 2.0, mean_m], PARAM_LOWER * 10, PARAM_UPPER / 10))
    objective = _gamma_gamma_objective(xa, ma, w)
    theta, mean_nll, converged = _maximise(objective, start, "Gamma-Gamma")
    p, q, gamma = (float(v) for v in np.exp(theta))
    if q <= 1.0:
        # E[spend] = p*gamma/(q-1) is infinite for q <= 1, so the fit is useless for CLV.
        raise ModelFitError(f"Gamma-Gamma fit gave q = {q:.4g} <= 1: mean spend undefined")
    return GammaGammaParams(
        p=p,
        q=q,
        gamma=gamma,
        log_likelihood=-mean_nll * n_customers,
        n_customers=round(n_customers),
        converged=converged,
    )


def gamma_gamma_expected_spend(
    params: GammaGammaParams,
    x: ArrayLike,
    mean_spend: ArrayLike,
    population_mean: float | None = None,
) -> FloatArray:
    """E[spend per transaction | x, mean spend] (> 0); x == 0 gives the population mean."""
    # E[M | x, mbar] = p (gamma + x mbar) / (p x + q - 1): a weighted average of the population
    # mean p gamma/(q-1) and the customer's own mean, with weight growing in x.
    pop = params.population_mean_spend
    xa, ma = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(mean_spend, np.float64))
    shape = xa.shape
    xa, ma = np.array(xa).reshape(-1), np.array(ma).reshape(-1)
    if not np.all(np.isfinite(xa)) or np.any(xa < 0):
        raise ValueError("x must be finite and non-negative")
    repeat = xa > 0
    if not np.all(np.isfinite(ma[repeat])) or np.any(ma[repeat] < 0):
        raise ValueError("mean_spend must be finite and non-negative where x > 0")
    # Callers may pass nan/0 as the mean of zero repeat purchases; it has no weight anyway.
    ma = np.where(repeat, ma, 0.0)
    p, q, gamma = params.p, params.q, params.gamma
    out = p * (gamma + xa * ma) / (p * xa + q - 1.0)
    if population_mean is not None:
        if not (math.isfinite(population_mean) and population_mean >= 0):
            raise ValueError("population_mean must be finite and non-negative")
        out[~repeat] = population_mean
    else:
        out[~repeat] = pop
    return out.reshape(shape)


def clv(
    bgnbd: BGNBDParams,
    gg: GammaGammaParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    mean_spend: ArrayLike,
    horizon_days: float = 365.0,
    annual_discount_rate: float = 0.0,
) -> FloatArray:
    """Expected (optionally discounted) spend over the next horizon_days; finite and >= 0."""
    if not (math.isfinite(horizon_days) and horizon_days >= 0):
        raise ValueError("horizon_days must be finite and non-negative")
    if not (math.isfinite(annual_discount_rate) and annual_discount_rate >= 0):
        raise ValueError("annual_discount_rate must be finite and non-negative")
    xa, ta, age, shape = _customer_arrays(x, t_x, T)
    spend = gamma_gamma_expected_spend(
        gg, xa, np.broadcast_to(np.asarray(mean_spend, np.float64), shape).reshape(-1)
    )
    alive = _p_alive_flat(bgnbd, xa, ta, age)
    # The alive expectation depends on (x, T) only, and a customer base has few distinct pairs:
    # evaluate the hypergeometric functions once per pair rather than once per customer.
    first, inverse = _group_rows(xa, age)
    x_u, age_u = xa[first], age[first]
    if annual_discount_rate == 0.0 or horizon_days == 0.0:
        per_pair = _alive_expected_purchases(bgnbd, x_u, age_u, np.full_like(x_u, horizon_days))
        return (alive * per_pair[inverse] * spend).reshape(shape)
    # Discounting needs to know *when* purchases happen: split the horizon into months, take
    # the expected purchases in each month from differences of the cumulative expectation,
    # and discount each month's purchases at its end date (conservative by half a month).
    n_months = math.ceil(horizon_days / DAYS_PER_MONTH - 1e-9)
    ends = np.minimum(np.arange(1, n_months + 1) * DAYS_PER_MONTH, horizon_days)
    discounted = np.zeros_like(x_u)
    previous = np.zeros_like(x_u)
    for end in ends:
        cumulative = _alive_expected_purchases(bgnbd, x_u, age_u, np.full_like(x_u, end))
        factor = (1.0 + annual_discount_rate) ** (-end / DAYS_PER_YEAR)
        discounted += factor * np.clip(cumulative - previous, 0.0, None)
        previous = cumulative
    return (alive * discounted[inverse] * spend).reshape(shape)


def simulate_gamma_gamma(
    x: ArrayLike, p: float, q: float, gamma: float, rng: np.random.Generator
) -> FloatArray:
    """Mean spend over x transactions per customer under Gamma-Gamma (0 where x == 0)."""
    _check_positive_params(p=p, q=q, gamma=gamma)
    xa = _as_finite("x", x).reshape(-1)
    if np.any(xa < 0):
        raise ValueError("x must be non-negative")
    nu = rng.gamma(q, 1.0 / gamma, size=xa.shape[0])
    out = np.zeros_like(xa)
    pos = xa > 0
    # A sum of x iid Gamma(p, rate nu) spends is Gamma(p x, rate nu): one draw per customer.
    out[pos] = rng.gamma(p * xa[pos], 1.0 / nu[pos]) / xa[pos]
    return out.reshape(np.shape(x))
