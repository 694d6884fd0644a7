using System.Data.Common;
using Engine.Storage.Sql;

namespace Engine.Storage.Accounts;

/// <summary>
/// The directory's tables in the engine's database: virtual domains, users and aliases, the relay domains
/// with their valid recipients, and a change
/// counter that nodes poll to know when to reload their snapshot. Keys are stored in lower case, so
/// lookups ignore case as Postfix's do. Every change is one transaction that also bumps the counter.
/// </summary>
public sealed class SqlDirectory(EngineDatabase database, char? subaddressSeparator = '+')
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS directory_domains (
            name TEXT PRIMARY KEY,
            catch_all TEXT NULL);
        CREATE TABLE IF NOT EXISTS directory_users (
            address TEXT PRIMARY KEY,
            domain TEXT NOT NULL REFERENCES directory_domains(name),
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            quota_bytes BIGINT NOT NULL,
            enabled BIGINT NOT NULL);
        CREATE TABLE IF NOT EXISTS directory_aliases (
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            PRIMARY KEY (source, target));
        CREATE TABLE IF NOT EXISTS directory_relay_domains (
            name TEXT PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS directory_relay_recipients (
            address TEXT PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS directory_version (
            id BIGINT PRIMARY KEY CHECK (id = 1),
            version BIGINT NOT NULL);
        INSERT INTO directory_version (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING;
        """;

    private DbConnection Open() => database.Open();

    public void EnsureSchema()
    {
        using var connection = Open();
        Execute(connection, null, Schema);
    }

    public long Version()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT version FROM directory_version WHERE id = 1";
        return (long)(command.ExecuteScalar() ?? 0L);
    }

    public DirectorySnapshot Load()
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        var version = (long)(Query(connection, transaction, "SELECT version FROM directory_version WHERE id = 1", r => r.GetInt64(0)).FirstOrDefault());
        var domains = Query(connection, transaction, "SELECT name, catch_all FROM directory_domains",
            r => new DomainEntry(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)));
        var users = Query(connection, transaction,
            "SELECT address, display_name, password_hash, quota_bytes, enabled FROM directory_users",
            r => new UserEntry(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetInt64(4) != 0));
        var aliases = Query(connection, transaction, "SELECT source, target FROM directory_aliases ORDER BY source, target",
                r => (Source: r.GetString(0), Target: r.GetString(1)))
            .GroupBy(a => a.Source)
            .Select(g => new AliasEntry(g.Key, g.Select(a => a.Target).ToArray()));
        var relayDomains = Query(connection, transaction, "SELECT name FROM directory_relay_domains", r => r.GetString(0));
        var relayRecipients = Query(connection, transaction, "SELECT address FROM directory_relay_recipients", r => r.GetString(0));
        return new DirectorySnapshot(domains, users, aliases, subaddressSeparator, version, relayDomains, relayRecipients);
    }

    public void AddDomain(string name, string? catchAll = null) => Change(
        "INSERT INTO directory_domains (name, catch_all) VALUES (@a, @b)", Key(name), catchAll is null ? null : Key(catchAll));

    public void SetCatchAll(string domain, string? catchAll) => ChangeOne(
        "UPDATE directory_domains SET catch_all = @b WHERE name = @a", $"no domain {domain}", Key(domain), catchAll is null ? null : Key(catchAll));

    /// <summary>Removes a domain with no users left; its aliases go with it.</summary>
    public void DeleteDomain(string name) => Change((connection, tx) =>
    {
        var users = Query(connection, tx, "SELECT count(*) FROM directory_users WHERE domain = @a", r => r.GetInt64(0), Key(name)).First();
        if (users > 0)
            throw new DirectoryException($"domain {name} still has {users} users");
        Execute(connection, tx, "DELETE FROM directory_aliases WHERE source LIKE '%@' || @a", Key(name));
        if (Execute(connection, tx, "DELETE FROM directory_domains WHERE name = @a", Key(name)) == 0)
            throw new DirectoryException($"no domain {name}");
    });

    public void AddUser(string address, string displayName, string passwordHash, long quotaBytes, bool enabled = true)
    {
        var key = Key(address);
        var at = key.LastIndexOf('@');
        if (at <= 0)
            throw new DirectoryException($"not an address: {address}");
        Change("INSERT INTO directory_users (address, domain, display_name, password_hash, quota_bytes, enabled) VALUES (@a, @b, @c, @d, @e, @f)",
            key, key[(at + 1)..], displayName, passwordHash, quotaBytes, enabled ? 1L : 0L);
    }

    public void DeleteUser(string address) =>
        ChangeOne("DELETE FROM directory_users WHERE address = @a", $"no user {address}", Key(address));

    public void SetPassword(string address, string passwordHash) =>
        ChangeOne("UPDATE directory_users SET password_hash = @b WHERE address = @a", $"no user {address}", Key(address), passwordHash);

    /// <summary>Replaces the credentials only if they are still <paramref name="expected"/> (no change in between is undone); false when not.</summary>
    public bool ReplacePassword(string address, string expected, string passwordHash)
    {
        var replaced = false;
        Change((connection, tx) => replaced = Execute(connection, tx, "UPDATE directory_users SET password_hash = @c WHERE address = @a AND password_hash = @b",
            Key(address), expected, passwordHash) == 1);
        return replaced;
    }

    public void SetEnabled(string address, bool enabled) =>
        ChangeOne("UPDATE directory_users SET enabled = @b WHERE address = @a", $"no user {address}", Key(address), enabled ? 1L : 0L);

    public void AddAlias(string source, IEnumerable<string> targets) => Change((connection, tx) =>
    {
        foreach (var target in targets)
            Execute(connection, tx, "INSERT INTO directory_aliases (source, target) VALUES (@a, @b) ON CONFLICT DO NOTHING", Key(source), target.Trim());
    });

    public void DeleteAlias(string source) =>
        ChangeOne("DELETE FROM directory_aliases WHERE source = @a", $"no alias {source}", Key(source));

    public void AddRelayDomain(string name) => Change("INSERT INTO directory_relay_domains (name) VALUES (@a)", Key(name));

    public void DeleteRelayDomain(string name) =>
        ChangeOne("DELETE FROM directory_relay_domains WHERE name = @a", $"no relay domain {name}", Key(name));

    /// <summary>Adds valid recipients of relay domains: addresses, or "@domain" for a whole domain.</summary>
    public void AddRelayRecipients(IEnumerable<string> addresses) => Change((connection, tx) =>
    {
        foreach (var address in addresses)
        {
            if (Key(address).LastIndexOf('@') < 0)
                throw new DirectoryException($"not an address or @domain: {address}");
            Execute(connection, tx, "INSERT INTO directory_relay_recipients (address) VALUES (@a) ON CONFLICT DO NOTHING", Key(address));
        }
    });

    public void DeleteRelayRecipient(string address) =>
        ChangeOne("DELETE FROM directory_relay_recipients WHERE address = @a", $"no relay recipient {address}", Key(address));

    /// <summary>Replaces the whole list of relay recipients in one transaction (a fresh export of the mail servers behind).</summary>
    public void ReplaceRelayRecipients(IReadOnlyCollection<string> addresses) => Batch(batch =>
    {
        batch.Change((connection, tx) => Execute(connection, tx, "DELETE FROM directory_relay_recipients"));
        batch.AddRelayRecipients(addresses);
    });

    /// <summary>Runs several changes as one transaction with one version bump (bulk import).</summary>
    public void Batch(Action<SqlDirectory> changes)
    {
        // A nested directory on the same connection string would open other connections; instead the
        // batch collects statements through a directory bound to one transaction.
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        var bound = new SqlDirectory(database, subaddressSeparator) { _bound = (connection, transaction) };
        changes(bound);
        Bump(connection, transaction);
        transaction.Commit();
    }

    private (DbConnection Connection, DbTransaction Transaction)? _bound;

    /// <summary>Addresses and domains are keys in lower case.</summary>
    private static string Key(string text) => text.Trim().ToLowerInvariant();

    private void Change(string sql, params object?[] values) => Change((connection, tx) => Execute(connection, tx, sql, values));

    private void ChangeOne(string sql, string missing, params object?[] values) => Change((connection, tx) =>
    {
        if (Execute(connection, tx, sql, values) == 0)
            throw new DirectoryException(missing);
    });

    private void Change(Action<DbConnection, DbTransaction> change)
    {
        try
        {
            if (_bound is { } bound)
            {
                change(bound.Connection, bound.Transaction);
                return;
            }
            using var connection = Open();
            using var transaction = connection.BeginTransaction();
            change(connection, transaction);
            Bump(connection, transaction);
            transaction.Commit();
        }
        catch (DbException e) when (EngineDatabase.IsConstraint(e, out var foreignKey))
        {
            throw new DirectoryException(foreignKey ? "the domain is not in the directory (engine domain add first)" : "already exists");
        }
    }

    private static void Bump(DbConnection connection, DbTransaction transaction) =>
        Execute(connection, transaction, "UPDATE directory_version SET version = version + 1 WHERE id = 1");

    private static int Execute(DbConnection connection, DbTransaction? transaction, string sql, params object?[] values)
    {
        using var command = Command(connection, transaction, sql, values);
        return command.ExecuteNonQuery();
    }

    private static List<T> Query<T>(DbConnection connection, DbTransaction? transaction, string sql, Func<DbDataReader, T> read,
        params object?[] values)
    {
        using var command = Command(connection, transaction, sql, values);
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read())
            rows.Add(read(reader));
        return rows;
    }

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, object?[] values) =>
        EngineDatabase.Command(connection, transaction, sql, values);
}

/// <summary>A directory change that cannot be made, with a message for the operator.</summary>
public sealed class DirectoryException(string message) : Exception(message);
