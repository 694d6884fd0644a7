using System.Net;
using Engine.Filtering;
using Engine.Filtering.Restrictions;
using Engine.Primitives;
using Engine.Storage.Accounts;

namespace Engine.Tests.Filtering;

/// <summary>
/// The restriction lists as Postfix runs them, each check with the reply Postfix gives: a pure evaluation
/// over the facts of a client, a site and a directory.
/// </summary>
public sealed class RestrictionSpecs
{
    private sealed class FixedDirectory(DirectorySnapshot snapshot) : IRecipientDirectory
    {
        public DirectorySnapshot Current => snapshot;

        public void PasswordVerified(UserEntry user, string password)
        {
        }
    }

    internal static readonly Site Site = new("mx.campus.test", a => IPAddress.IsLoopback(a) || a.ToString().StartsWith("10.", StringComparison.Ordinal),
        d => d.Equals("mx.campus.test", StringComparison.OrdinalIgnoreCase), new FixedDirectory(new DirectorySnapshot(
            [new DomainEntry("campus.test")], [new UserEntry("jane@campus.test", "", "", 0, true), new UserEntry("old@campus.test", "", "", 0, false)], [],
            '+', 1, ["partner.test"], ["sales@partner.test"])));

    internal static readonly SmtpFacts Stranger = new(IPAddress.Parse("192.0.2.7"))
    {
        Helo = "mail.client.test",
        Sender = new EmailAddress("alice", "client.test"),
        Recipient = new EmailAddress("jane", "campus.test"),
    };

    internal static Restrictions Lists(string recipient, string client = "", string helo = "", string sender = "",
        Dictionary<string, IReadOnlyList<string>>? classes = null, bool unlisted = true)
    {
        var factory = new RestrictionFactory(classes);
        string[] Entries(string list) => list.Length == 0 ? [] : [list];
        return new Restrictions(Site, new Dictionary<SmtpStage, RestrictionList>
        {
            [SmtpStage.Client] = factory.Parse("client", Entries(client)),
            [SmtpStage.Helo] = factory.Parse("helo", Entries(helo)),
            [SmtpStage.Sender] = factory.Parse("sender", Entries(sender)),
            [SmtpStage.Recipient] = factory.Parse("recipient", Entries(recipient)),
        }, unlisted);
    }

    /// <summary>Runs the lists for a RCPT; every check here answers at once (no lookups), so the outcome is there.</summary>
    internal static Outcome Run(Restrictions lists, SmtpFacts facts)
    {
        var pending = lists.RecipientAsync(facts);
        Assert.True(pending.IsCompletedSuccessfully);
        return pending.Result;
    }

    internal static string? Reply(Restrictions lists, SmtpFacts facts) => Run(lists, facts).Refusal?.ToString();

    private const string Relay = "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination";

    [Fact]
    public void The_default_list_refuses_relaying_but_to_our_domains_and_for_mynetworks_and_authenticated_clients()
    {
        var lists = Lists(Relay);
        var elsewhere = Stranger with { Recipient = new EmailAddress("bob", "elsewhere.test") };
        Assert.Equal("554 5.7.1 <bob@elsewhere.test>: Relay access denied", Reply(lists, elsewhere));
        Assert.Null(Reply(lists, elsewhere with { ClientAddress = IPAddress.Parse("10.1.2.3") }));
        Assert.Null(Reply(lists, elsewhere with { SaslUser = "jane@campus.test" }));
        Assert.Null(Reply(lists, Stranger));
        Assert.Null(Reply(lists, Stranger with { Recipient = new EmailAddress("anyone", "mx.campus.test") })); // mydestination
        Assert.Null(Reply(lists, Stranger with { Recipient = new EmailAddress("sales", "partner.test") })); // a relay domain
        // A local part that routes onward is relaying, even to our domain.
        Assert.Equal("554 5.7.1 <bob%elsewhere.test@campus.test>: Relay access denied",
            Reply(lists, Stranger with { Recipient = new EmailAddress("bob%elsewhere.test", "campus.test") }));
        Assert.Equal("554 5.7.1 <jane@[192.0.2.1]>: Relay access denied", Reply(lists, Stranger with { Recipient = new EmailAddress("jane", "[192.0.2.1]") }));
    }

    [Fact]
    public void Unlisted_recipients_are_refused_after_the_lists_unless_turned_off()
    {
        var lists = Lists(Relay);
        Assert.Equal("550 5.1.1 <nobody@campus.test>: Recipient address rejected: User unknown in virtual mailbox table",
            Reply(lists, Stranger with { Recipient = new EmailAddress("nobody", "campus.test") }));
        Assert.Equal("550 5.1.1 <nobody@campus.test>: Recipient address rejected: User unknown in virtual mailbox table",
            Reply(lists, Stranger with { ClientAddress = IPAddress.Loopback, Recipient = new EmailAddress("nobody", "campus.test") })); // even after a permit
        Assert.Equal("550 5.2.1 <old@campus.test>: Recipient address rejected: Mailbox disabled",
            Reply(lists, Stranger with { Recipient = new EmailAddress("old", "campus.test") }));
        Assert.Equal("550 5.1.1 <info@partner.test>: Recipient address rejected: User unknown in relay recipient table",
            Reply(lists, Stranger with { Recipient = new EmailAddress("info", "partner.test") }));
        Assert.Null(Reply(Lists(Relay, unlisted: false), Stranger with { Recipient = new EmailAddress("nobody", "campus.test") }));
        Assert.Equal("550 5.1.1 <nobody@campus.test>: Recipient address rejected: User unknown in virtual mailbox table",
            Reply(Lists("reject_unlisted_recipient", unlisted: false), Stranger with { Recipient = new EmailAddress("nobody", "campus.test") }));
    }

    [Fact]
    public void A_mydestination_address_the_directory_does_not_hold_is_refused_unless_its_local_part_is_listed()
    {
        var factory = new RestrictionFactory();
        Restrictions With(IReadOnlySet<string>? locals) => new(Site with { LocalRecipients = locals },
            new Dictionary<SmtpStage, RestrictionList> { [SmtpStage.Recipient] = factory.Parse("recipient", [Relay]) });
        var postmasterOnly = With(new HashSet<string>(["postmaster"], StringComparer.OrdinalIgnoreCase));
        Assert.Equal("550 5.1.1 <nobody@mx.campus.test>: Recipient address rejected: User unknown in local recipient table",
            Reply(postmasterOnly, Stranger with { Recipient = new EmailAddress("nobody", "mx.campus.test") }));
        Assert.Null(Reply(postmasterOnly, Stranger with { Recipient = new EmailAddress("Postmaster", "mx.campus.test") }));
        Assert.Null(Reply(postmasterOnly, Stranger with { Recipient = new EmailAddress("postmaster+abuse", "mx.campus.test") })); // its subaddress
        Assert.Null(Reply(With(new HashSet<string>()), Stranger with { Recipient = new EmailAddress("postmaster", "mx.campus.test") })); // always
        Assert.Equal("550 5.1.1 <root+x@mx.campus.test>: Recipient address rejected: User unknown in local recipient table",
            Reply(postmasterOnly, Stranger with { Recipient = new EmailAddress("root+x", "mx.campus.test") }));
        Assert.Null(Reply(postmasterOnly, Stranger)); // a directory domain answers for itself
        Assert.Null(Reply(With(null), Stranger with { Recipient = new EmailAddress("nobody", "mx.campus.test") })); // ["*"]
    }

    [Theory]
    [InlineData("reject", "554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: Access denied", "", "")]
    [InlineData("defer", "450 4.3.2 <unknown[192.0.2.7]>: Client host rejected: Try again later", "", "")]
    [InlineData("", "554 5.7.1 <mail.client.test>: Helo command rejected: Access denied", "reject", "")]
    [InlineData("", "554 5.7.1 <alice@client.test>: Sender address rejected: Access denied", "", "reject")]
    [InlineData("permit", null, "", "")] // a permit ends the client list only
    [InlineData("permit, reject", null, "", "")]
    public void Reject_and_defer_name_the_stage_whose_list_they_end(string client, string? reply, string helo, string sender)
    {
        Assert.Equal(reply, Reply(Lists("", client, helo, sender), Stranger));
    }

    [Fact]
    public void A_permit_ends_its_own_list_only_and_the_client_list_is_reported_at_RCPT()
    {
        Assert.Equal("554 5.7.1 <jane@campus.test>: Recipient address rejected: Access denied", Reply(Lists("reject", client: "permit"), Stranger));
        Assert.Equal("554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: Access denied", Reply(Lists("permit", client: "reject"), Stranger));
    }

    [Theory]
    [InlineData("reject_non_fqdn_helo_hostname", "localhost", "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname")]
    [InlineData("reject_non_fqdn_helo_hostname", "[192.0.2.7]", null)]
    [InlineData("reject_non_fqdn_helo_hostname", "mail.client.test", null)]
    [InlineData("reject_invalid_helo_hostname", "bad_host!", "501 5.5.2 <bad_host!>: Helo command rejected: Invalid name")]
    [InlineData("reject_invalid_helo_hostname", "-a.test", "501 5.5.2 <-a.test>: Helo command rejected: Invalid name")]
    [InlineData("reject_invalid_helo_hostname", "192.0.2.7", "501 5.5.2 <192.0.2.7>: Helo command rejected: Invalid name")]
    [InlineData("reject_invalid_helo_hostname", "[300.1.2.3]", "501 5.5.2 <[300.1.2.3]>: Helo command rejected: invalid ip address")]
    [InlineData("reject_invalid_helo_hostname", "[192.0.2.7]", null)]
    [InlineData("reject_invalid_helo_hostname", "[IPv6:2001:db8::1]", null)]
    [InlineData("reject_invalid_helo_hostname", "localhost", null)]
    public void Helo_checks(string restriction, string helo, string? reply) =>
        Assert.Equal(reply, Reply(Lists("", helo: restriction), Stranger with { Helo = helo }));

    [Fact]
    public void Sender_and_recipient_name_checks()
    {
        Assert.Equal("504 5.5.2 <alice@client>: Sender address rejected: need fully-qualified address",
            Reply(Lists("", sender: "reject_non_fqdn_sender"), Stranger with { Sender = new EmailAddress("alice", "client") }));
        Assert.Null(Reply(Lists("", sender: "reject_non_fqdn_sender"), Stranger with { Sender = EmailAddress.Null }));
        Assert.Equal("504 5.5.2 <jane@campus>: Recipient address rejected: need fully-qualified address",
            Reply(Lists("reject_non_fqdn_recipient", unlisted: false), Stranger with { Recipient = new EmailAddress("jane", "campus") }));
        Assert.Equal("550 5.1.0 <forged@campus.test>: Sender address rejected: User unknown in virtual mailbox table",
            Reply(Lists("", sender: "reject_unlisted_sender"), Stranger with { Sender = new EmailAddress("forged", "campus.test") }));
        Assert.Null(Reply(Lists("", sender: "reject_unlisted_sender"), Stranger with { Sender = new EmailAddress("jane", "campus.test") }));
    }

    [Fact]
    public void Warn_if_reject_logs_the_next_rejection_instead_and_defer_if_reject_softens_later_ones()
    {
        var outcome = Run(Lists("", client: "warn_if_reject reject"), Stranger);
        Assert.Null(outcome.Refusal);
        Assert.Equal("554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: Access denied", Assert.Single(outcome.Warnings).ToString());
        Assert.Equal("554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: Access denied",
            Reply(Lists("", client: "warn_if_reject permit_mynetworks reject"), Stranger)); // only the very next one
        Assert.Equal("450 4.7.0 <unknown[192.0.2.7]>: Client host rejected: defer_if_reject requested", Reply(Lists("", client: "defer_if_reject reject"), Stranger));
        // Only within its own list; a later 5xx is answered with the deferral's reply, a 4xx stays itself.
        Assert.Equal("554 5.7.1 <jane@campus.test>: Recipient address rejected: Access denied", Reply(Lists("reject", client: "defer_if_reject"), Stranger));
        Assert.Equal("450 4.7.0 <nobody@campus.test>: Recipient address rejected: defer_if_reject requested",
            Reply(Lists("defer_if_reject reject_unlisted_recipient"), Stranger with { Recipient = new EmailAddress("nobody", "campus.test") }));
        Assert.Equal("450 4.3.2 <unknown[192.0.2.7]>: Client host rejected: Try again later", Reply(Lists("", client: "defer_if_reject defer"), Stranger));
    }

    [Fact]
    public void Defer_if_permit_defers_unless_a_later_restriction_rejects()
    {
        Assert.Equal("450 4.7.0 <unknown[192.0.2.7]>: Client host rejected: defer_if_permit requested", Reply(Lists("", client: "defer_if_permit"), Stranger));
        Assert.Equal("554 5.7.1 <jane@campus.test>: Recipient address rejected: Access denied", Reply(Lists("reject", client: "defer_if_permit"), Stranger));
    }

    [Fact]
    public void Restriction_classes_stand_in_lists_and_unknown_names_and_loops_fail_at_start()
    {
        var classes = new Dictionary<string, IReadOnlyList<string>> { ["strict"] = ["reject_non_fqdn_sender", "permit_mynetworks", "reject"] };
        Assert.Equal("554 5.7.1 <alice@client.test>: Sender address rejected: Access denied", Reply(Lists("", sender: "strict", classes: classes), Stranger));
        Assert.Null(Reply(Lists("", sender: "strict", classes: classes), Stranger with { ClientAddress = IPAddress.Loopback }));
        Assert.Contains("reject_unknown_thing", Assert.Throws<FormatException>(() => Lists("reject_unknown_thing")).Message);
        Assert.Contains("needs an argument", Assert.Throws<FormatException>(() => Lists("check_client_access")).Message);
        var loop = new Dictionary<string, IReadOnlyList<string>> { ["a"] = ["b"], ["b"] = ["a"] };
        Assert.Contains("contains itself", Assert.Throws<FormatException>(() => Lists("a", classes: loop)).Message);
    }

    [Fact]
    public void Unauthorized_pipelining_is_refused_in_the_stage_it_is_checked()
    {
        Assert.Equal("503 5.5.0 <unknown[192.0.2.7]>: Client host rejected: Improper use of SMTP command pipelining",
            Reply(Lists("", client: "reject_unauth_pipelining"), Stranger with { PipelinedEarly = true }));
        Assert.Null(Reply(Lists("", client: "reject_unauth_pipelining"), Stranger));
    }

    [Fact]
    public void Host_names_are_judged_by_their_labels()
    {
        Assert.True(HostNames.IsValidHost("mail-1.example.org."));
        Assert.False(HostNames.IsValidHost("a..b"));
        Assert.False(HostNames.IsValidHost(new string('a', 64) + ".test"));
        Assert.True(HostNames.IsAddressLiteral("[IPv6:::1]"));
        Assert.False(HostNames.IsAddressLiteral("[not.an.ip]"));
    }
}
