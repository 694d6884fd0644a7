using System.Text;
using Engine.Primitives;
using Engine.Protocols.Sasl;

namespace Engine.Tests.Protocols;

/// <summary>The server side of SASL: PLAIN, LOGIN, and SCRAM against the examples of RFC 5802 and RFC 7677.</summary>
public sealed class SaslSpecs
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(SaslStep step) => Encoding.UTF8.GetString(Assert.IsType<SaslStep.Challenge>(step).Data);

    [Fact]
    public void Plain_takes_authzid_user_and_password_with_or_without_an_initial_response()
    {
        Assert.Equal(new SaslStep.Verify("tim", "tanstaaftanstaaf", null), new PlainServer().Start(Bytes("\0tim\0tanstaaftanstaaf")));
        var plain = new PlainServer();
        Assert.Empty(Assert.IsType<SaslStep.Challenge>(plain.Start(null)).Data);
        Assert.Equal(new SaslStep.Verify("tim", "pass", "Ursel"), plain.Next(Bytes("Ursel\0tim\0pass")));
        Assert.IsType<SaslStep.Failure>(new PlainServer().Start(Bytes("tim\0pass")));
        Assert.IsType<SaslStep.Failure>(new PlainServer().Start(Bytes("\0tim\0pass\0more")));
        Assert.IsType<SaslStep.Failure>(new PlainServer().Start(Bytes("\0\0pass")));
        Assert.IsType<SaslStep.Failure>(new PlainServer().Start([0, 0x74, 0, 0xC3, 0x28])); // not UTF-8
    }

    [Fact]
    public void Login_asks_for_the_user_then_the_password()
    {
        var login = new LoginServer();
        Assert.Equal("Username:", Text(login.Start(null)));
        Assert.Equal("Password:", Text(login.Next(Bytes("jane@campus.test"))));
        Assert.Equal(new SaslStep.Verify("jane@campus.test", "secret", null), login.Next(Bytes("secret")));
        var withInitial = new LoginServer();
        Assert.Equal("Password:", Text(withInitial.Start(Bytes("jane"))));
    }

    /// <summary>RFC 5802 section 5: user "user", password "pencil".</summary>
    [Fact]
    public void Scram_sha1_follows_the_example_of_RFC_5802()
    {
        var stored = ScramCredentials.Derive("pencil", ScramHash.Sha1, 4096, Convert.FromBase64String("QSXCR+Q6sek8bf92"));
        var scram = new ScramServer(ScramHash.Sha1, user => user == "user" ? stored : null, () => "3rfcNHYJY1ZVvWVs7j");
        Assert.Equal("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            Text(scram.Start(Bytes("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"))));
        var success = Assert.IsType<SaslStep.Success>(scram.Next(Bytes("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")));
        Assert.Equal("user", success.User);
        Assert.Equal("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", Encoding.UTF8.GetString(success.Final!));
        Assert.Equal(new SaslStep.Success("user", null), scram.Next([]));
    }

    /// <summary>RFC 7677 section 3: user "user", password "pencil".</summary>
    [Fact]
    public void Scram_sha256_follows_the_example_of_RFC_7677_and_its_credentials_round_trip_as_dovecot_writes_them()
    {
        var stored = ScramCredentials.Derive("pencil", ScramHash.Sha256, 4096, Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ=="));
        stored = ScramCredentials.Parse(stored.Format(ScramHash.Sha256), ScramHash.Sha256)!;
        Assert.Null(ScramCredentials.Parse(stored.Format(ScramHash.Sha256), ScramHash.Sha1));
        var scram = new ScramServer(ScramHash.Sha256, _ => stored, () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        Assert.Equal("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            Text(scram.Start(Bytes("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))));
        var success = Assert.IsType<SaslStep.Success>(scram.Next(Bytes(
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")));
        Assert.Equal("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", Encoding.UTF8.GetString(success.Final!));
    }

    [Theory]
    [InlineData("p=tls-unique,,n=user,r=abc")] // channel binding asked for
    [InlineData("n,,n=user")] // no nonce
    [InlineData("n,,n=us=2Xer,r=abc")] // a bad escape in the name
    [InlineData("n,,m=ext,n=user,r=abc")] // mandatory extension first
    [InlineData("x,,n=user,r=abc")]
    public void Scram_refuses_a_malformed_first_message(string first) =>
        Assert.IsType<SaslStep.Failure>(new ScramServer(ScramHash.Sha256, _ => null).Start(Bytes(first)));

    [Fact]
    public void Scram_fails_a_wrong_password_a_changed_nonce_and_an_unknown_user_without_telling_which_users_exist()
    {
        var stored = ScramCredentials.Derive("pencil", ScramHash.Sha256, 4096, Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ=="));
        ScramServer Server() => new(ScramHash.Sha256, user => user == "user" ? stored : null, () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        const string good = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

        var wrong = Server();
        wrong.Start(Bytes("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
        Assert.Equal("user", Assert.IsType<SaslStep.Failure>(wrong.Next(Bytes(good.Replace("dHzb", "dHzc", StringComparison.Ordinal)))).User); // counted against the account

        var replayed = Server();
        replayed.Start(Bytes("n,,n=user,r=other"));
        Assert.IsType<SaslStep.Failure>(replayed.Next(Bytes(good)));

        var unknown = Server();
        var first = Text(unknown.Start(Bytes("n,,n=nobody,r=rOprNGfwEbeRWgbNEkqO")));
        Assert.Matches("^r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj\\)hNlF\\$k0,s=[A-Za-z0-9+/=]{24},i=4096$", first);
        Assert.Equal(first, Text(Server().Start(Bytes("n,,n=nobody,r=rOprNGfwEbeRWgbNEkqO")))); // the same salt each time
        Assert.IsType<SaslStep.Failure>(unknown.Next(Bytes(good)));
    }

    [Fact]
    public void The_offered_mechanisms_start_by_name_in_any_case_and_others_do_not()
    {
        var mechanisms = new SaslMechanisms(["PLAIN", "SCRAM-SHA-256"], NoSaslKeys.Instance, "mx.test");
        Assert.IsType<ScramServer>(mechanisms.Start("scram-sha-256"));
        Assert.IsType<PlainServer>(mechanisms.Start("Plain"));
        Assert.Null(mechanisms.Start("LOGIN"));
        Assert.Null(mechanisms.Start("CRAM-MD5"));
    }

    private const string RfcChallenge = "<1896.697170952@postoffice.reston.mci.net>";

    [Fact]
    public void Md5_finished_from_the_initial_state_is_md5_for_every_length_around_the_block_edges()
    {
        foreach (var length in new[] { 0, 1, 55, 56, 63, 64, 65, 119, 120, 200 })
        {
            var data = Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();
            Assert.Equal(System.Security.Cryptography.MD5.HashData(data), CramMd5Key.Md5.Finish(CramMd5Key.Md5.Initial, data, 0));
        }
    }

    [Fact]
    public void Cram_md5_keys_are_written_as_dovecot_writes_them_and_answer_the_example_of_RFC_2195()
    {
        // doveadm pw -s CRAM-MD5 -p tanstaaftanstaaf
        const string dovecot = "{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b";
        var key = CramMd5Key.Derive("tanstaaftanstaaf");
        Assert.Equal(dovecot, key.Format());
        Assert.Equal(dovecot, CramMd5Key.Parse(dovecot)!.Format());
        Assert.Equal("b913a602c7eda7a495b4e6e7334d3890", Convert.ToHexStringLower(key.Digest(Bytes(RfcChallenge))));
        var longPassword = new string('x', 100); // a key longer than a block is hashed first (RFC 2104)
        Assert.Equal(System.Security.Cryptography.HMACMD5.HashData(Bytes(longPassword), Bytes(RfcChallenge)),
            CramMd5Key.Derive(longPassword).Digest(Bytes(RfcChallenge)));
        Assert.Null(CramMd5Key.Parse("{CRAM-MD5}d06d"));
        Assert.Null(CramMd5Key.Parse("{CRAM-MD5}" + new string('g', 64)));
    }

    [Fact]
    public void Cram_md5_checks_the_digest_of_its_challenge_and_fails_anything_else()
    {
        var key = CramMd5Key.Derive("tanstaaftanstaaf");
        CramMd5Server Server() => new(user => user == "tim" ? key : null, "postoffice.reston.mci.net", () => RfcChallenge);
        var server = Server();
        Assert.Equal(RfcChallenge, Text(server.Start(null)));
        var success = Assert.IsType<SaslStep.Success>(server.Next(Bytes("tim b913a602c7eda7a495b4e6e7334d3890")));
        Assert.Equal("tim", success.User);

        foreach (var wrong in new[] { "tim b913a602c7eda7a495b4e6e7334d3891", "tom b913a602c7eda7a495b4e6e7334d3890", "tim", "tim b913", "tim zz13a602c7eda7a495b4e6e7334d3890" })
        {
            var other = Server();
            other.Start(null);
            Assert.IsType<SaslStep.Failure>(other.Next(Bytes(wrong)));
        }
        Assert.IsType<SaslStep.Failure>(Server().Start(Bytes("tim"))); // the server speaks first
        var fresh = new CramMd5Server(_ => key, "mx.test");
        Assert.Matches("^<[0-9a-f]{16}\\.[0-9]+@mx\\.test>$", Text(fresh.Start(null)));
    }
}
