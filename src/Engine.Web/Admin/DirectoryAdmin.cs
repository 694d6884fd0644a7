using Engine.Storage.Accounts;

namespace Engine.Web.Admin;

/// <summary>
/// Domains, users and aliases for the admin API, on the directory's tables (the same store `engine user ...`
/// writes). After a change the node's cached copy is read again at once; the other nodes see it within
/// engine.directory.refresh. Passwords are hashed here and never logged.
/// </summary>
public sealed class DirectoryAdmin(SqlDirectory store, Action refreshed, bool keepCramMd5)
{
    public IReadOnlyList<DomainInfo> Domains() =>
        store.Load().Domains.OrderBy(d => d.Name, StringComparer.Ordinal).Select(d => new DomainInfo(d.Name, d.CatchAll)).ToArray();

    public IReadOnlyList<UserInfo> Users(string? domain) =>
        store.Load().Users.Where(u => domain is not { Length: > 0 } || u.Address.EndsWith("@" + domain.ToLowerInvariant(), StringComparison.Ordinal))
            .OrderBy(u => u.Address, StringComparer.Ordinal).Select(u => new UserInfo(u.Address, u.DisplayName, u.QuotaBytes, u.Enabled)).ToArray();

    public IReadOnlyList<AliasInfo> Aliases() =>
        store.Load().Aliases.OrderBy(a => a.Source, StringComparer.Ordinal).Select(a => new AliasInfo(a.Source, a.Targets)).ToArray();

    public void AddDomain(DomainInfo domain) => Changed(() => store.AddDomain(domain.Name, domain.CatchAll));

    public void DeleteDomain(string name) => Changed(() => store.DeleteDomain(name));

    /// <summary>A user with no password is locked until one is set.</summary>
    public void AddUser(NewUser user) => Changed(() => store.AddUser(user.Address, user.DisplayName ?? "",
        user.Password is { Length: > 0 } password ? PasswordHasher.Hash(password, cramMd5: keepCramMd5) : "{LOCKED}", user.QuotaBytes ?? 0));

    public void DeleteUser(string address) => Changed(() => store.DeleteUser(address));

    public void SetPassword(string address, string password) => Changed(() =>
    {
        if (password.Length == 0)
            throw new DirectoryException("the password is empty");
        store.SetPassword(address, PasswordHasher.Hash(password, cramMd5: keepCramMd5));
    });

    public void AddAlias(AliasInfo alias) => Changed(() =>
    {
        if (alias.Targets.Count == 0)
            throw new DirectoryException("an alias needs at least one target");
        store.AddAlias(alias.Source, alias.Targets);
    });

    public void DeleteAlias(string source) => Changed(() => store.DeleteAlias(source));

    private void Changed(Action change)
    {
        change();
        refreshed();
    }
}
