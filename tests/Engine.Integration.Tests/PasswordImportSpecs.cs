using Engine.Integration.Tests.Support;
using Engine.Storage.Accounts;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Engine.Integration.Tests;

/// <summary>
/// Hashes made by Dovecot ("doveadm pw", run here) and imported as they are: the user logs in with them, and
/// that login replaces them with Argon2id and SCRAM keys, so SCRAM works from then on.
/// </summary>
public sealed class PasswordImportSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("SHA512-CRYPT")]
    [InlineData("SHA256-CRYPT")]
    [InlineData("BLF-CRYPT")]
    [InlineData("ARGON2ID")]
    [InlineData("PBKDF2")]
    [InlineData("SSHA512")]
    public async Task A_dovecot_hash_logs_in_and_is_replaced_by_argon2id_and_scram_keys(string scheme)
    {
        var doveadm = await Processes.RunAsync("doveadm", ["pw", "-s", scheme, "-p", Accounts.Password]);
        Assert.True(doveadm.ExitCode == 0, doveadm.Error);
        var imported = doveadm.Output.Trim();
        Assert.StartsWith("{" + scheme + "}", imported, StringComparison.Ordinal);
        var dataDir = Accounts.WithJane("import-" + scheme.ToLowerInvariant());
        Accounts.DirectoryOf(dataDir).SetPassword("jane@campus.test", imported);
        await using var engine = await EngineInstance.StartInAsync(dataDir);

        using (var imap = new ImapClient())
        {
            await imap.ConnectAsync("127.0.0.1", engine.ImapPort, SecureSocketOptions.None, Ct);
            Assert.Contains("SCRAM-SHA-256", imap.AuthenticationMechanisms);
            imap.AuthenticationMechanisms.Remove("SCRAM-SHA-256"); // the imported hash has no SCRAM keys yet
            imap.AuthenticationMechanisms.Remove("SCRAM-SHA-1");
            await imap.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
            await imap.DisconnectAsync(true, Ct);
        }

        var deadline = DateTime.UtcNow.AddSeconds(15);
        string stored;
        while (!(stored = Accounts.DirectoryOf(dataDir).Load().FindUser("jane@campus.test")!.PasswordHash).StartsWith("{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "not rehashed: " + stored);
            await Task.Delay(100, Ct);
        }
        Assert.False(PasswordHasher.NeedsRehash(stored));
        Assert.DoesNotContain(imported, stored);

        await WaitForReloadAsync(engine);
        using var scram = new ImapClient();
        await scram.ConnectAsync("127.0.0.1", engine.ImapPort, SecureSocketOptions.None, Ct);
        scram.AuthenticationMechanisms.Remove("PLAIN");
        scram.AuthenticationMechanisms.Remove("LOGIN");
        scram.AuthenticationMechanisms.Remove("SCRAM-SHA-1");
        await scram.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
        Assert.Contains(engine.Logs.Lines, l => l.StartsWith("imap-login: Login: user=<jane@campus.test>, method=SCRAM-SHA-256", StringComparison.Ordinal));
        await scram.DisconnectAsync(true, Ct);
    }

    /// <summary>The node's copy of the directory sees the new credentials (it reloads when the change counter moves).</summary>
    private static async Task WaitForReloadAsync(EngineInstance engine)
    {
        var directory = (IRecipientDirectory)engine.Services.GetService(typeof(IRecipientDirectory))!;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (directory.Current.FindUser("jane@campus.test")?.PasswordHash.StartsWith("{ARGON2ID}", StringComparison.Ordinal) != true)
        {
            Assert.True(DateTime.UtcNow < deadline, "the node did not reload the directory");
            await Task.Delay(100, Ct);
        }
    }
}
