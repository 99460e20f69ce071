"""Tests for the BG/NBD and Gamma-Gamma churn / CLV models in customers.churn."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from customers.churn import (
    BGNBDParams,
    GammaGammaParams,
    ModelFitError,
    bgnbd_expected_purchases,
    bgnbd_p_alive,
    bgnbd_prob_purchase_within,
    bgnbd_unconditional_expected,
    clv,
    compress_patterns,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_expected_spend,
    simulate_bgnbd,
    simulate_bgnbd_purchase_times,
    simulate_gamma_gamma,
)

# Daily-scale parameters used throughout: mean purchase rate r/alpha ~ one purchase every 112
# days among the still-active, mean dropout probability a/(a+b) ~ 0.24 after each purchase.
TRUE_BGNBD = {"r": 0.25, "alpha": 28.0, "a": 0.8, "b": 2.5}
PARAMS = BGNBDParams(**TRUE_BGNBD)
# Published CDNOW estimates (Fader, Hardie & Lee 2005; time unit: weeks).
CDNOW = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def _simulated_customers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ages = rng.uniform(180.0, 730.0, n)
    return simulate_bgnbd(n, *TRUE_BGNBD.values(), ages, rng)


def test_fit_bgnbd_recovers_simulation_parameters():
    x, t_x, ages = _simulated_customers(20_000, seed=20240601)

    fitted = fit_bgnbd(x, t_x, ages)

    # Tolerances are ~5 standard deviations of each estimate's sampling spread, measured by
    # refitting 60 seeds of this exact design (20k customers, ages U(180, 730) days): relative
    # sd was 1.3% for r, 2.2% for alpha, 5.5% for a and 7.2% for b (max |error| over the 60
    # seeds: 3.7%, 5.2%, 13%, 18%).  a and b are the least well identified because dropout is
    # only seen indirectly, through long silences after a customer's last purchase.
    tolerances = {"r": 0.10, "alpha": 0.15, "a": 0.30, "b": 0.35}
    for name, true_value in TRUE_BGNBD.items():
        estimate = getattr(fitted, name)
        assert estimate == pytest.approx(true_value, rel=tolerances[name]), name
    assert fitted.converged
    assert fitted.n_customers == 20_000
    assert fitted.log_likelihood is not None
    assert np.isfinite(fitted.log_likelihood)


def test_fit_bgnbd_on_weighted_patterns_matches_fit_on_raw_rows():
    x, t_x, ages = _simulated_customers(20_000, seed=7)
    # Day resolution, as the application stores it, so that customers share patterns.
    t_x, ages = np.floor(t_x), np.floor(ages)

    x_u, t_u, ages_u, counts, inverse = compress_patterns(x, t_x, ages)
    raw = fit_bgnbd(x, t_x, ages)
    compressed = fit_bgnbd(x_u, t_u, ages_u, weights=counts)

    assert x_u.size < 0.6 * x.size  # the comparison is meaningless without real compression
    # Same maximisation, only summed in a different order: over 30 seeds the two fits agreed to
    # 1.3e-13 (the fit ends with a Newton step, so optimiser tolerance does not show up here).
    for name in ("r", "alpha", "a", "b", "log_likelihood"):
        assert getattr(compressed, name) == pytest.approx(getattr(raw, name), rel=1e-9), name
    assert compressed.n_customers == raw.n_customers == 20_000
    np.testing.assert_array_equal(
        bgnbd_p_alive(compressed, x_u, t_u, ages_u)[inverse],
        bgnbd_p_alive(compressed, x, t_x, ages),
    )


def test_compress_patterns_counts_distinct_rows_and_inverse_rebuilds_input():
    x = [2, 0, 2, 1, 2]
    t_x = [10, 0, 10, 4, 10]
    ages = [30, 30, 30, 30, 31]

    x_u, t_u, ages_u, counts, inverse = compress_patterns(x, t_x, ages)

    rows = set(zip(x_u.tolist(), t_u.tolist(), ages_u.tolist(), strict=True))
    assert rows == {(0.0, 0.0, 30.0), (1.0, 4.0, 30.0), (2.0, 10.0, 30.0), (2.0, 10.0, 31.0)}
    assert counts.sum() == 5
    assert dict(zip(zip(x_u, t_u, ages_u, strict=True), counts, strict=True))[(2, 10, 30)] == 2
    np.testing.assert_array_equal(x_u[inverse], x)
    np.testing.assert_array_equal(t_u[inverse], t_x)
    np.testing.assert_array_equal(ages_u[inverse], ages)


def test_fit_gamma_gamma_recovers_simulation_parameters():
    rng = np.random.default_rng(99)
    x, _, _ = simulate_bgnbd(50_000, *TRUE_BGNBD.values(), rng.uniform(180.0, 730.0, 50_000), rng)
    x = x[x > 0][:20_000]
    mean_spend = simulate_gamma_gamma(x, p=6.0, q=4.0, gamma=15.0, rng=rng)

    fitted = fit_gamma_gamma(x, mean_spend)

    # ~5 sampling standard deviations from 60 refitted seeds of this design (relative sd:
    # p 3.7%, q 1.4%, gamma 4.8%; max |error| 9%, 4.5%, 14%).  p and gamma trade off against
    # each other (both scale the spend level), q is pinned by the spread across customers.
    assert x.size == 20_000
    assert fitted.p == pytest.approx(6.0, rel=0.20)
    assert fitted.q == pytest.approx(4.0, rel=0.10)
    assert fitted.gamma == pytest.approx(15.0, rel=0.25)
    assert fitted.converged
    assert fitted.n_customers == 20_000


def test_p_alive_matches_hand_computed_closed_form():
    params = BGNBDParams(r=0.24, alpha=4.41, a=0.79, b=2.43)

    # x=2, t_x=30.43, T=38.86:
    #   a/(b+x-1) = 0.79/3.43 = 0.230321
    #   (alpha+T)/(alpha+t_x) = 43.27/34.84 = 1.241963, raised to r+x = 2.24 gives 1.624814
    #   P = 1 / (1 + 0.230321 * 1.624814) = 1 / 1.374228 = 0.727681
    # x=5, t_x=10, T=100 (silent for 90 time units after 5 repeat purchases):
    #   0.79/6.43 = 0.122862;  (104.41/14.41)^5.24 = 7.245663^5.24 = 32122.5
    #   P = 1 / (1 + 0.122862 * 32122.5) = 0.000253
    # x=1, t_x=T=20 (bought at the very end): the ratio is 1, so P = (b+x-1)/(a+b+x-1)
    #   = 2.43/3.22 = 0.754658
    p_alive = bgnbd_p_alive(params, [2, 5, 1, 0], [30.43, 10, 20, 0], [38.86, 100, 20, 50])

    expected_exact = [
        1 / (1 + 0.79 / 3.43 * (43.27 / 34.84) ** 2.24),
        1 / (1 + 0.79 / 6.43 * (104.41 / 14.41) ** 5.24),
        2.43 / 3.22,
        1.0,
    ]
    np.testing.assert_allclose(p_alive, expected_exact, rtol=1e-12)
    np.testing.assert_allclose(p_alive, [0.727681, 0.000253317, 0.754658, 1.0], rtol=2e-6)


def _expected_purchases_by_integration(params, x, t_x, ages, t):
    """P(alive) times E[purchases | alive] integrated numerically over the dropout p."""
    # Alive customer: lambda | data ~ Gamma(r+x, alpha+T) and p | data ~ Beta(a, b+x).  Given
    # (lambda, p) the expected count is (1 - exp(-lambda p t))/p; averaging over lambda gives
    # the integrand g below.  Independent of the module's hypergeometric closed form.
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    k = t / (alpha + ages)
    s = r + x

    def g(p):
        return -math.expm1(-s * math.log1p(p * k)) / p if p > 0 else s * k

    value, _ = integrate.quad(
        g, 0.0, 1.0, weight="alg", wvar=(a - 1.0, b + x - 1.0), epsabs=0.0, epsrel=1e-12
    )
    alive_expectation = value / special.beta(a, b + x)
    if x == 0:
        return alive_expectation
    odds_dead = a / (b + x - 1) * ((alpha + ages) / (alpha + t_x)) ** (r + x)
    return alive_expectation / (1.0 + odds_dead)


@pytest.mark.parametrize(
    ("params", "x", "t_x", "ages", "horizon"),
    [
        (CDNOW, 2, 30.43, 38.86, 39.0),  # weeks; 1.2260 (also checked with mpmath, 40 digits)
        (CDNOW, 0, 0.0, 38.86, 39.0),
        (CDNOW, 7, 35.71, 38.86, 52.0),
        (PARAMS, 3, 200.0, 400.0, 365.0),
        (PARAMS, 3, 200.0, 400.0, 1.0),  # short horizon: power-series branch
        (PARAMS, 0, 0.0, 30.0, 3650.0),
        (BGNBDParams(r=0.5, alpha=10.0, a=1.0, b=3.0), 4, 50.0, 60.0, 90.0),  # a == 1: 0/0
        (BGNBDParams(r=0.3, alpha=15.0, a=0.4, b=0.5), 0, 0.0, 100.0, 365.0),  # c < 0: quadrature
        (BGNBDParams(r=0.3, alpha=15.0, a=0.4, b=0.5), 1, 20.0, 100.0, 365.0),
        (BGNBDParams(r=2.0, alpha=50.0, a=3.0, b=10.0), 10, 300.0, 310.0, 180.0),
    ],
)
def test_expected_purchases_matches_numerical_integration(params, x, t_x, ages, horizon):
    expected = _expected_purchases_by_integration(params, x, t_x, ages, horizon)

    got = bgnbd_expected_purchases(params, x, t_x, ages, horizon)

    assert float(got) == pytest.approx(expected, rel=1e-7)


def test_expected_purchases_for_cdnow_example_customer():
    # Paper's CDNOW parameters, a customer with 2 repeat purchases, last at week 30.43, observed
    # for 38.86 weeks: 1.2260 purchases expected over the next 39 weeks (P(alive) = 0.7266).
    # Value confirmed by 40-digit mpmath evaluation of eq. 10 and of the defining integral.
    assert float(bgnbd_expected_purchases(CDNOW, 2, 30.43, 38.86, 39)) == pytest.approx(
        1.226028, abs=1e-6
    )
    assert float(bgnbd_p_alive(CDNOW, 2, 30.43, 38.86)) == pytest.approx(0.726579, abs=1e-6)


def test_unconditional_expected_purchases_matches_simulated_means():
    rng = np.random.default_rng(12345)
    n = 200_000
    customer, times, _ = simulate_bgnbd_purchase_times(n, *TRUE_BGNBD.values(), 730.0, rng)

    horizons = np.array([0.0, 30.0, 180.0, 730.0])
    expected = bgnbd_unconditional_expected(PARAMS, horizons)

    assert expected[0] == 0.0
    assert np.all(np.diff(expected) > 0)
    for horizon, model_mean in zip(horizons[1:], expected[1:], strict=True):
        # Repeat purchases in (0, horizon]; the first purchase at time 0 is not counted.
        counts = np.bincount(customer[(times > 0) & (times <= horizon)], minlength=n)
        standard_error = counts.std() / math.sqrt(n)
        # 4.5 standard errors: a false alarm has probability ~1e-5 per comparison.
        assert abs(counts.mean() - model_mean) < 4.5 * standard_error, horizon


def test_simulated_purchase_times_summarise_to_simulate_bgnbd_output():
    n = 5_000
    customer, times, ages = simulate_bgnbd_purchase_times(
        n, *TRUE_BGNBD.values(), 365.0, np.random.default_rng(3)
    )
    x, t_x, ages_summary = simulate_bgnbd(n, *TRUE_BGNBD.values(), 365.0, np.random.default_rng(3))

    assert np.all(np.diff(customer) >= 0)
    first = np.flatnonzero(np.r_[True, np.diff(customer) > 0])
    np.testing.assert_array_equal(customer[first], np.arange(n))  # everybody buys at time 0
    np.testing.assert_array_equal(times[first], 0.0)
    np.testing.assert_array_equal(np.bincount(customer, minlength=n) - 1, x)
    last_time = np.zeros(n)
    np.maximum.at(last_time, customer, times)
    np.testing.assert_array_equal(last_time, t_x)
    assert np.all(times <= ages[customer])
    np.testing.assert_array_equal(ages, ages_summary)


def test_prob_purchase_within_is_p_alive_times_gamma_poisson_first_purchase():
    x = np.array([0, 1, 4, 4, 30])
    t_x = np.array([0.0, 10.0, 150.0, 290.0, 100.0])
    ages = np.array([50.0, 200.0, 300.0, 300.0, 400.0])
    horizons = np.array([1.0, 30.0, 90.0, 365.0, 3650.0])

    probs = bgnbd_prob_purchase_within(PARAMS, x[:, None], t_x[:, None], ages[:, None], horizons)

    assert probs.shape == (5, 5)
    assert np.all((probs >= 0) & (probs <= 1))
    assert np.all(np.diff(probs, axis=1) > 0)  # a longer window can only add chances
    r, alpha = PARAMS.r, PARAMS.alpha
    no_purchase_if_alive = ((alpha + ages[:, None]) / (alpha + ages[:, None] + horizons)) ** (
        r + x[:, None]
    )
    expected = bgnbd_p_alive(PARAMS, x, t_x, ages)[:, None] * (1 - no_purchase_if_alive)
    np.testing.assert_allclose(probs, expected, rtol=1e-12)
    # Never above P(alive): the dead never come back.
    assert np.all(probs <= bgnbd_p_alive(PARAMS, x, t_x, ages)[:, None])


def test_prob_purchase_and_expected_purchases_agree_with_posterior_monte_carlo():
    # Importance sampling of the exact posterior from the model's definition: draw lambda from
    # Gamma(r+x, alpha+T) (the part of the posterior shared by both states) and p from its
    # Beta(a, b) prior, then weight "alive" by (1-p)^x and "died after the last purchase" by
    # p (1-p)^(x-1) exp(lambda (T - t_x)).  Alive customers are then simulated forward:
    # Poisson purchases, each followed by dropout with probability p.
    x, t_x, ages, horizon = 4, 220.0, 300.0, 180.0
    r, alpha, a, b = TRUE_BGNBD.values()
    rng = np.random.default_rng(2024)
    n = 400_000
    lam = rng.gamma(r + x, 1.0 / (alpha + ages), n)
    p = rng.beta(a, b, n)
    w_alive = (1 - p) ** x
    w_dead = p * (1 - p) ** (x - 1) * np.exp(lam * (ages - t_x))
    weight = w_alive + w_dead
    alive = rng.random(n) < w_alive / weight
    purchases = np.minimum(rng.poisson(lam * horizon), rng.geometric(p)) * alive

    def weighted_mean_and_se(values):
        mean = np.sum(weight * values) / np.sum(weight)
        se = math.sqrt(np.sum((weight * (values - mean)) ** 2)) / np.sum(weight)
        return mean, se

    mc_prob, prob_se = weighted_mean_and_se((purchases > 0).astype(float))
    mc_mean, mean_se = weighted_mean_and_se(purchases.astype(float))

    # 4.5 standard errors (relative se here is ~0.2%): false alarm probability ~1e-5; over 40
    # seeds the largest deviation seen was 3.0 standard errors.
    prob = float(bgnbd_prob_purchase_within(PARAMS, x, t_x, ages, horizon))
    assert abs(prob - mc_prob) < 4.5 * prob_se
    expected = float(bgnbd_expected_purchases(PARAMS, x, t_x, ages, horizon))
    assert abs(expected - mc_mean) < 4.5 * mean_se
    mc_alive, alive_se = weighted_mean_and_se(alive.astype(float))
    assert abs(float(bgnbd_p_alive(PARAMS, x, t_x, ages)) - mc_alive) < 4.5 * alive_se


@pytest.mark.parametrize(
    ("x", "t_x", "ages"),
    [
        ([], [], []),
        (np.zeros(500), np.zeros(500), np.full(500, 100.0)),  # nobody ever repeats
        (np.ones(29), np.full(29, 5.0), np.full(29, 10.0)),  # fewer than 30 customers
    ],
    ids=["empty", "no-repeat-purchases", "29-customers"],
)
def test_fit_bgnbd_rejects_degenerate_data(x, t_x, ages):
    with pytest.raises(ModelFitError):
        fit_bgnbd(x, t_x, ages)


def test_fit_bgnbd_counts_weighted_customers_towards_the_minimum():
    with pytest.raises(ModelFitError):
        fit_bgnbd([1, 0], [5.0, 0.0], [10.0, 10.0], weights=[14, 15])
    fitted = fit_bgnbd([1, 2, 0], [5.0, 8.0, 0.0], [10.0, 10.0, 10.0], weights=[10, 10, 10])
    assert fitted.n_customers == 30


def test_invalid_customer_summaries_are_rejected():
    with pytest.raises(ValueError, match="t_x must not exceed T"):
        bgnbd_p_alive(PARAMS, [1], [11.0], [10.0])
    with pytest.raises(ValueError, match="whole numbers"):
        bgnbd_p_alive(PARAMS, [1.5], [1.0], [10.0])
    with pytest.raises(ValueError, match="finite"):
        bgnbd_expected_purchases(PARAMS, [1], [1.0], [np.nan], 30)


def test_predictions_stay_finite_for_huge_frequency_and_age():
    x = np.array([500, 500, 500, 0, 1])
    t_x = np.array([4999.0, 2500.0, 1.0, 0.0, 0.0])
    ages = np.full(5, 5000.0)

    for horizon in (0.0, 1.0, 365.0, 1e5):
        for params in (PARAMS, CDNOW, BGNBDParams(r=30.0, alpha=0.5, a=0.05, b=40.0)):
            outputs = [
                bgnbd_p_alive(params, x, t_x, ages),
                bgnbd_expected_purchases(params, x, t_x, ages, horizon),
                bgnbd_prob_purchase_within(params, x, t_x, ages, horizon),
            ]
            for values in outputs:
                assert np.all(np.isfinite(values)), (horizon, params)
                assert np.all(values >= 0), (horizon, params)
    # A daily buyer who stopped 4999 days ago is almost surely gone; one who just bought isn't.
    p_alive = bgnbd_p_alive(PARAMS, x, t_x, ages)
    assert p_alive[0] > 0.99
    assert p_alive[2] < 1e-100


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(
    r=st.floats(0.01, 50.0),
    alpha=st.floats(0.1, 1e4),
    a=st.floats(0.01, 50.0),
    b=st.floats(0.01, 100.0),
    x=st.integers(0, 2000),
    recency_share=st.floats(0.0, 1.0),
    ages=st.floats(0.0, 1e4),
    horizon=st.floats(0.0, 1e5),
)
def test_predictions_are_finite_and_expected_count_bounds_purchase_probability(
    r, alpha, a, b, x, recency_share, ages, horizon
):
    params = BGNBDParams(r=r, alpha=alpha, a=a, b=b)
    t_x = 0.0 if x == 0 else recency_share * ages

    p_alive = float(bgnbd_p_alive(params, x, t_x, ages))
    prob = float(bgnbd_prob_purchase_within(params, x, t_x, ages, horizon))
    expected = float(bgnbd_expected_purchases(params, x, t_x, ages, horizon))

    assert 0.0 <= prob <= p_alive <= 1.0
    assert math.isfinite(expected)
    # For a non-negative integer count N, E[N] >= P(N >= 1).
    assert expected >= prob * (1 - 1e-6)


def test_expected_purchases_is_continuous_through_a_equal_one():
    values = [
        float(bgnbd_expected_purchases(BGNBDParams(0.5, 10.0, a, 3.0), 4, 50.0, 60.0, 90.0))
        for a in (1.0 - 1e-3, 1.0 - 1e-7, 1.0, 1.0 + 1e-7, 1.0 + 1e-3)
    ]
    assert values[1] == pytest.approx(values[2], rel=1e-6)
    assert values[3] == pytest.approx(values[2], rel=1e-6)
    # The a = 1 -+ 1e-3 neighbours bracket the a = 1 value (expected count falls with a).
    assert values[0] > values[2] > values[4]


def test_expected_spend_shrinks_customer_mean_towards_population_mean():
    params = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)

    spend = gamma_gamma_expected_spend(params, [0, 3, 3, 1000], [np.nan, 50.0, 10.0, 50.0])

    # x=0: population mean p*gamma/(q-1) = 6*15/3 = 30.
    # x=3, mbar=50: p (gamma + x mbar) / (p x + q - 1) = 6 * (15 + 150) / (18 + 3) = 47.142857
    # x=3, mbar=10: 6 * (15 + 30) / 21 = 12.857143
    np.testing.assert_allclose(spend[:3], [30.0, 990 / 21, 270 / 21], rtol=1e-12)
    assert spend[3] == pytest.approx(50.0, rel=1e-3)  # lots of history: the customer's own mean
    assert params.population_mean_spend == 30.0
    overridden = gamma_gamma_expected_spend(params, [0, 3], [0.0, 50.0], population_mean=25.0)
    np.testing.assert_allclose(overridden, [25.0, 990 / 21], rtol=1e-12)


def test_fit_gamma_gamma_ignores_rows_without_repeat_spend():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 10, 3_000).astype(float)
    mean_spend = simulate_gamma_gamma(x, 6.0, 4.0, 15.0, rng)
    junk_x = np.r_[x, np.zeros(500), np.full(10, 3.0)]
    junk_spend = np.r_[mean_spend, np.full(500, np.nan), np.zeros(10)]

    assert fit_gamma_gamma(junk_x, junk_spend) == fit_gamma_gamma(x, mean_spend)


def test_fit_gamma_gamma_rejects_too_few_customers_and_infinite_mean_spend():
    rng = np.random.default_rng(11)
    with pytest.raises(ModelFitError):
        fit_gamma_gamma([2] * 19, rng.uniform(5, 50, 19))
    with pytest.raises(ModelFitError):
        fit_gamma_gamma(np.zeros(100), np.zeros(100))
    # q < 1 means the population mean spend p*gamma/(q-1) does not exist: refuse the fit.
    x = rng.integers(1, 10, 5_000).astype(float)
    heavy_tailed = simulate_gamma_gamma(x, 3.0, 0.6, 10.0, rng)
    with pytest.raises(ModelFitError, match="q ="):
        fit_gamma_gamma(x, heavy_tailed)


def test_clv_is_expected_purchases_times_expected_spend_and_discounting_lowers_it():
    gg = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    x = np.array([0, 1, 4, 12])
    t_x = np.array([0.0, 30.0, 150.0, 350.0])
    ages = np.array([60.0, 200.0, 300.0, 360.0])
    mean_spend = np.array([np.nan, 20.0, 35.0, 80.0])

    undiscounted = clv(PARAMS, gg, x, t_x, ages, mean_spend, horizon_days=365)
    discounted = clv(
        PARAMS, gg, x, t_x, ages, mean_spend, horizon_days=365, annual_discount_rate=0.10
    )
    almost_undiscounted = clv(
        PARAMS, gg, x, t_x, ages, mean_spend, horizon_days=365, annual_discount_rate=1e-12
    )

    np.testing.assert_allclose(
        undiscounted,
        bgnbd_expected_purchases(PARAMS, x, t_x, ages, 365)
        * gamma_gamma_expected_spend(gg, x, mean_spend),
        rtol=1e-12,
    )
    # Every purchase falls within a year, so each is discounted by a factor in [1/1.1, 1).
    assert np.all(discounted < undiscounted)
    assert np.all(discounted >= undiscounted / 1.10)
    # The monthly increments add back up to the whole-horizon expectation.
    np.testing.assert_allclose(almost_undiscounted, undiscounted, rtol=1e-9)
    assert np.all(clv(PARAMS, gg, x, t_x, ages, mean_spend, horizon_days=0) == 0)


def test_simulate_gamma_gamma_means_have_model_expectation():
    rng = np.random.default_rng(8)
    x = np.r_[np.zeros(10), np.full(100_000, 5.0)]

    mean_spend = simulate_gamma_gamma(x, 6.0, 4.0, 15.0, rng)

    assert np.all(mean_spend[:10] == 0)
    # E[mbar] = p * E[1/nu] = p * gamma / (q - 1) = 30; sd of mbar is ~22, so se ~0.07 and
    # the tolerance is 5 se.
    assert mean_spend[10:].mean() == pytest.approx(30.0, abs=0.35)
