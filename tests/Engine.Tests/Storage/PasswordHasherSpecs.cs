using Engine.Primitives;
using Engine.Storage.Accounts;

namespace Engine.Tests.Storage;

/// <summary>
/// Credentials: Argon2id with SCRAM keys for new passwords, and the hashes Dovecot writes, verified. The
/// imported values were made by Dovecot 2.3's "doveadm pw -s SCHEME -p secret" and OpenSSL's "passwd".
/// </summary>
public sealed class PasswordHasherSpecs
{
    [Theory]
    [InlineData("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$mYUvsA/LDfjl6EzLtA8DAw$uxxhLH22Ec/Ftv48ycxiV9zIdfhmXs0pCDFJ0qIzr04")]
    [InlineData("{SHA512-CRYPT}$6$E0iuDLMDXcu4.YTd$/oOxVFzv7UKE/GZkQ5teudn1Qa1zWC2A1p63X5woMhoFUsk.EQNOfqkpfF6ZY7xQGJhP5sYhwCaznrfEiTzZa0")]
    [InlineData("{SHA512-CRYPT}$6$rounds=10000$irHmJagpbndW.f5W$bv7ZM2A.Lvm9Moe5ew5BqArU8dLYF4/ZUp5r7J/OJASHx46//NHOGWqyJ0h1FTQcL9ikoQWzgVhR0DuUvxWik1")]
    [InlineData("{SHA256-CRYPT}$5$VnOyK8J.nqP9LPdY$gxOKPFuXqUXldxwAD4RxEYWdK2L4KHbYrpdac.CDlB.")]
    [InlineData("{BLF-CRYPT}$2y$05$o969jpeLUV/I6owWP8jbuusRr/VCW0qGaXoYu9ntFBmhEfu5KNmke")]
    [InlineData("{PBKDF2}$1$qx7vh.A5F1mC1Kmi$5000$2b081349a5da2fda8f1fcf4fa1cd77c323e09455")]
    [InlineData("{SSHA512}SjTs6ArDNg1N8l6/E/SJvVu+h0UN7jlIh4EFagUJBLCj3dj8a0s56miw4CZAR85GfxNUbk1g3HqBSkuS3n8xwbcJBLI=")]
    [InlineData("{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56")]
    public void Dovecot_hashes_verify_the_right_password_only_and_ask_to_be_rehashed(string stored)
    {
        Assert.True(PasswordHasher.Verify("secret", stored));
        Assert.False(PasswordHasher.Verify("Secret", stored));
        Assert.False(PasswordHasher.Verify("", stored));
        Assert.True(PasswordHasher.NeedsRehash(stored)); // no SCRAM keys, and (but one) not the default scheme
    }

    [Theory]
    [InlineData("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5")]
    [InlineData("$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.")]
    public void Sha_crypt_matches_openssl_and_the_examples_of_its_specification(string crypt)
    {
        var scheme = crypt.StartsWith("$6$", StringComparison.Ordinal) ? "{SHA512-CRYPT}" : "{SHA256-CRYPT}";
        Assert.True(PasswordHasher.Verify("Hello world!", scheme + crypt));
        Assert.False(PasswordHasher.Verify("Hello world?", scheme + crypt));
    }

    [Fact]
    public void A_password_too_long_for_sha_crypt_is_refused_before_its_quadratic_work()
    {
        const string stored = "{SHA512-CRYPT}$6$E0iuDLMDXcu4.YTd$/oOxVFzv7UKE/GZkQ5teudn1Qa1zWC2A1p63X5woMhoFUsk.EQNOfqkpfF6ZY7xQGJhP5sYhwCaznrfEiTzZa0";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(PasswordHasher.Verify(new string('x', 100_000), stored));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1)); // 100,000 squared octets would take minutes
    }

    [Fact]
    public void New_credentials_are_argon2id_with_scram_keys_that_verify()
    {
        var stored = PasswordHasher.Hash("pencil", new Argon2Cost(1024, 1, 1));
        Assert.StartsWith("{ARGON2ID}$argon2id$v=19$m=1024,t=1,p=1$", stored, StringComparison.Ordinal);
        Assert.True(PasswordHasher.Verify("pencil", stored));
        Assert.False(PasswordHasher.Verify("pencil2", stored));
        Assert.False(PasswordHasher.NeedsRehash(stored));
        var scram = PasswordHasher.Scram(stored, ScramHash.Sha256)!;
        Assert.Equal(ScramCredentials.Derive("pencil", ScramHash.Sha256, scram.Iterations, scram.Salt).StoredKey, scram.StoredKey);
        Assert.NotNull(PasswordHasher.Scram(stored, ScramHash.Sha1));
        Assert.True(PasswordHasher.NeedsRehash(stored.Split(' ')[0])); // the hash alone: no SCRAM keys
        Assert.Null(PasswordHasher.CramMd5(stored)); // kept only where the mechanism is on
        Assert.True(PasswordHasher.NeedsRehash(stored, cramMd5: true));

        var withCram = PasswordHasher.Hash("pencil", new Argon2Cost(1024, 1, 1), cramMd5: true);
        Assert.Equal(CramMd5Key.Derive("pencil").Format(), PasswordHasher.CramMd5(withCram)!.Format());
        Assert.False(PasswordHasher.NeedsRehash(withCram, cramMd5: true));
        Assert.True(PasswordHasher.Verify("pencil", withCram));
    }

    [Fact]
    public void Unknown_and_disabled_users_are_refused_after_the_same_hash_work()
    {
        var stored = PasswordHasher.Hash("pencil", new Argon2Cost(1024, 1, 1));
        Assert.True(PasswordHasher.VerifyUser(new UserEntry("jane@campus.test", "", stored, 0, true), "pencil"));
        Assert.False(PasswordHasher.VerifyUser(new UserEntry("jane@campus.test", "", stored, 0, false), "pencil"));
        Assert.False(PasswordHasher.VerifyUser(null, "pencil"));
    }

    [Theory]
    [InlineData("{LOCKED}")]
    [InlineData("{PLAIN}secret")] // plain text is never taken
    [InlineData("{ARGON2ID}$argon2id$v=19$m=x,t=1,p=1$AAAA$AAAA")]
    [InlineData("{SHA512-CRYPT}$6$")]
    [InlineData("{BLF-CRYPT}$2y$99$garbage")]
    [InlineData("{SSHA512}!!!")]
    [InlineData("{PBKDF2}$1$salt$many$00")]
    [InlineData("no scheme")]
    public void Malformed_or_unknown_credentials_verify_nothing(string stored) => Assert.False(PasswordHasher.Verify("secret", stored));
}
