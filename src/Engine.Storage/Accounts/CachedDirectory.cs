using Engine.Primitives;

namespace Engine.Storage.Accounts;

/// <summary>What the SMTP server asks of the directory: the snapshot in force, read without I/O.</summary>
public interface IRecipientDirectory : ISaslKeys
{
    DirectorySnapshot Current { get; }

    ScramCredentials? ISaslKeys.Scram(string user, ScramHash hash) => Current.ScramOf(user, hash);

    CramMd5Key? ISaslKeys.CramMd5(string user) => Current.CramMd5Of(user);

    /// <summary>
    /// A login just succeeded with this password: when the user's credentials are of an older scheme or lack
    /// SCRAM keys (<see cref="PasswordHasher.NeedsRehash"/>), they are made again in the background.
    /// </summary>
    void PasswordVerified(UserEntry user, string password);
}

/// <summary>
/// A node's copy of the directory. It polls the change counter every refresh period and reloads the whole
/// directory when it moved (a change by `engine user add` or by another node shows within one period).
/// </summary>
public sealed class CachedDirectory : IRecipientDirectory, IDisposable
{
    private readonly SqlDirectory _store;
    private readonly Timer _timer;
    private DirectorySnapshot _current;

    public CachedDirectory(SqlDirectory store, TimeSpan refresh)
    {
        _store = store;
        _store.EnsureSchema();
        _current = store.Load();
        _timer = new Timer(_ => Refresh(), null, refresh, refresh);
    }

    public DirectorySnapshot Current => Volatile.Read(ref _current);

    /// <summary>Whether logins with imported hashes make new credentials (engine.auth.rehash).</summary>
    public bool Rehash { get; init; } = true;

    /// <summary>Whether credentials made again include a CRAM-MD5 key (the mechanism is on in engine.auth.mechanisms).</summary>
    public bool KeepCramMd5 { get; init; }

    public void PasswordVerified(UserEntry user, string password)
    {
        if (!Rehash || !PasswordHasher.NeedsRehash(user.PasswordHash, KeepCramMd5))
            return;
        _ = Task.Run(() =>
        {
            try
            {
                if (_store.ReplacePassword(user.Address, user.PasswordHash, PasswordHasher.Hash(password, cramMd5: KeepCramMd5)))
                    Refresh();
            }
            catch (Exception e) when (e is DirectoryException || Sql.EngineDatabase.IsTransient(e))
            {
                // the old credentials stay; the next login tries again
            }
        });
    }

    /// <summary>Reloads when the directory changed; a failed read keeps the snapshot in force.</summary>
    public void Refresh()
    {
        try
        {
            if (_store.Version() != Current.Version)
                Volatile.Write(ref _current, _store.Load());
        }
        catch (Exception e) when (Sql.EngineDatabase.IsTransient(e))
        {
            // The database is busy or gone for a moment: answer from the last snapshot, try again next period.
        }
    }

    public void Dispose() => _timer.Dispose();
}
