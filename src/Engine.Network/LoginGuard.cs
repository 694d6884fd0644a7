using System.Collections.Concurrent;
using System.Net;

namespace Engine.Network;

/// <summary>When failed logins slow a client down and when they lock it out (engine.auth.guard).</summary>
/// <param name="Window">How long a failure is remembered.</param>
/// <param name="DelayStep">The wait added per failure remembered for the client's address (or the account), up to <paramref name="MaxDelay"/>.</param>
/// <param name="AddressLimit">Failures from one address in the window after which it is blocked for <paramref name="BlockTime"/>.</param>
/// <param name="AccountLimit">Failures for one account in the window after which logins to it are blocked (from every address).</param>
public sealed record LoginGuardSettings(TimeSpan Window, TimeSpan DelayStep, TimeSpan MaxDelay, int AddressLimit, int AccountLimit, TimeSpan BlockTime)
{
    public static readonly LoginGuardSettings Default = new(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), 10, 30,
        TimeSpan.FromMinutes(15));
}

/// <summary>What a login attempt must do first: wait this long, or give up (blocked until the time given).</summary>
public readonly record struct LoginVerdict(TimeSpan Delay, DateTime? BlockedUntil)
{
    public bool Blocked => BlockedUntil is not null;
}

/// <summary>
/// Brute-force defence shared by SMTP AUTH, IMAP and POP3 on a node: failed logins are counted per client
/// address and per account across protocols and sessions; each failure remembered makes the next attempt
/// wait longer, and past a limit the address (or the account) is refused for a while, whatever the password
/// (Dovecot's auth_failure_delay and auth policy, fail2ban's ban). A success forgets the account's failures
/// (not the address's: a guesser may own one account). With an <see cref="CountExchange"/>, failures and
/// successes are shared with the other nodes, so a guesser gains nothing by spreading over the farm.
/// </summary>
public sealed class LoginGuard
{
    private const string Table = "login";
    private readonly LoginGuardSettings _settings;
    private readonly CountExchange? _exchange;
    private readonly SlidingCounts _failures;
    private readonly ConcurrentDictionary<string, DateTime> _blocked = new(StringComparer.OrdinalIgnoreCase);
    private DateTime _nextSweep;
    private readonly Func<DateTime> _now;

    public LoginGuard(LoginGuardSettings settings, CountExchange? exchange = null, Func<DateTime>? clock = null)
    {
        _settings = settings;
        _exchange = exchange;
        _failures = new SlidingCounts(settings.Window);
        _now = clock ?? (() => DateTime.UtcNow);
        exchange?.Register(Table, Apply);
    }

    public LoginGuardSettings Settings => _settings;

    /// <summary>Before checking a password (the account may be unknown yet: null).</summary>
    public LoginVerdict Check(IPAddress address, string? account)
    {
        var now = _now();
        var failures = Math.Max(_failures.Count("ip:" + address, now), account is null ? 0 : _failures.Count(UserKey(account), now));
        var blocked = Max(BlockedUntil("ip:" + address, now), account is null ? null : BlockedUntil(UserKey(account), now));
        var delay = _settings.DelayStep * failures;
        return new LoginVerdict(delay < _settings.MaxDelay ? delay : _settings.MaxDelay, blocked);
    }

    public void Failed(IPAddress address, string? account)
    {
        var now = _now();
        Count("ip:" + address, now, 1);
        if (!string.IsNullOrEmpty(account))
            Count(UserKey(account), now, 1);
    }

    public void Succeeded(string account)
    {
        _failures.Forget(UserKey(account));
        _exchange?.Publish(Table, UserKey(account), 0);
    }

    private void Count(string key, DateTime now, int count)
    {
        Add(key, now, count);
        _exchange?.Publish(Table, key, count);
    }

    /// <summary>Another node's failures (or, with 0, its success) for a key.</summary>
    private void Apply(string key, int count)
    {
        if (count == 0)
            _failures.Forget(key);
        else if (key.StartsWith("ip:", StringComparison.Ordinal) || key.StartsWith("user:", StringComparison.Ordinal))
            Add(key, _now(), Math.Min(count, 1000));
    }

    /// <summary>An account as a key: whatever a client typed, at most as long as an address may be (RFC 5321: 254).</summary>
    private static string UserKey(string account) => "user:" + (account.Length > 254 ? account[..254] : account);

    private void Add(string key, DateTime now, int count)
    {
        var limit = key.StartsWith("ip:", StringComparison.Ordinal) ? _settings.AddressLimit : _settings.AccountLimit;
        if (_failures.Add(key, now, count) >= limit)
            _blocked[key] = now + _settings.BlockTime;
        if (_blocked.Count > 10_000 && now >= _nextSweep)
        {
            _nextSweep = now + TimeSpan.FromMinutes(1);
            foreach (var (blockedKey, until) in _blocked)
            {
                if (until <= now)
                    _blocked.TryRemove(blockedKey, out _);
            }
        }
    }

    private DateTime? BlockedUntil(string key, DateTime now)
    {
        if (!_blocked.TryGetValue(key, out var until))
            return null;
        if (until > now)
            return until;
        _blocked.TryRemove(key, out _);
        return null;
    }

    private static DateTime? Max(DateTime? a, DateTime? b) => a is null ? b : b is null ? a : a > b ? a : b;
}
