from app.throttle import Backoff, account_key, ip_bucket


def test_free_failures_then_doubling_then_cap():
    b = Backoff(free=3, base_delay_s=1, max_delay_s=10, window_s=100)
    assert [b.wait_s(n, 0, 0) for n in range(0, 9)] == [0, 0, 0, 1, 2, 4, 8, 10, 10]


def test_wait_counts_from_the_last_failure():
    b = Backoff(free=1, base_delay_s=4, max_delay_s=100, window_s=100)
    assert b.wait_s(1, last_failure_at=10, now=12) == 2
    assert b.wait_s(1, last_failure_at=10, now=15) == 0


def test_block_lasts_the_window_then_ends():
    b = Backoff(free=1, base_delay_s=1, max_delay_s=2, window_s=3600, block_after=100)
    assert b.wait_s(99, 0, 3) == 0
    assert b.wait_s(100, 0, 3) == 3597
    assert b.wait_s(100, 0, 3600) == 0  # never permanent


def test_account_key_is_normalized_so_case_and_spaces_share_a_counter():
    assert account_key("user", " Alice@Example.ORG ") == account_key("user", "alice@example.org")


def test_ipv6_hosts_share_their_slash_64():
    assert ip_bucket("2001:db8:1:2:aaaa::1") == ip_bucket("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert ip_bucket("2001:db8:1:3::1") != ip_bucket("2001:db8:1:2::1")
    assert ip_bucket("::ffff:192.0.2.7") == "192.0.2.7"
    assert ip_bucket("192.0.2.7") == "192.0.2.7"
    assert ip_bucket("not an ip") == "not an ip"
    assert ip_bucket("") == "unknown"
