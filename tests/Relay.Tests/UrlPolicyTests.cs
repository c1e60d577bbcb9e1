using System.Net;
using Aspire.Webhooks.Relay.Subscribers;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>Where subscriber URLs may point: the address rules, the check at registration, and the HTTPS rule.</summary>
public sealed class UrlPolicyTests
{
    [Theory]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("127.255.0.9", "loopback")]
    [InlineData("::1", "loopback")]
    [InlineData("10.0.0.1", "private")]
    [InlineData("10.255.255.254", "private")]
    [InlineData("172.16.0.1", "private")]
    [InlineData("172.20.10.5", "private")]
    [InlineData("172.31.255.255", "private")]
    [InlineData("192.168.1.20", "private")]
    [InlineData("169.254.169.254", "cloud metadata")]
    [InlineData("fd00:ec2::254", "cloud metadata")]
    [InlineData("100.100.100.200", "cloud metadata")]
    [InlineData("169.254.10.1", "link-local")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("fe80::a00:27ff:fe4e:66a1", "link-local")]
    [InlineData("fd12:3456:789a::1", "private")]
    [InlineData("fc00::5", "private")]
    [InlineData("100.64.0.1", "carrier-grade NAT")]
    [InlineData("0.0.0.0", "unspecified")]
    [InlineData("::", "unspecified")]
    [InlineData("224.0.0.1", "multicast")]
    [InlineData("255.255.255.255", "reserved")]
    [InlineData("ff02::1", "multicast")]
    public void Internal_addresses_are_refused_and_named(string address, string kind) =>
        Assert.Contains(kind, SubscriberUrlPolicy.Forbidden(IPAddress.Parse(address)), StringComparison.Ordinal);

    [Theory]
    [InlineData("::ffff:127.0.0.1", "loopback")]
    [InlineData("::ffff:10.1.2.3", "private")]
    [InlineData("::ffff:192.168.0.1", "private")]
    [InlineData("::ffff:169.254.169.254", "cloud metadata")]
    // NAT64 and 6to4 addresses are judged by the IPv4 address they carry.
    [InlineData("64:ff9b::7f00:1", "127.0.0.1, a loopback")]
    [InlineData("64:ff9b::a9fe:a9fe", "169.254.169.254, a cloud metadata")]
    [InlineData("2002:a00:1::1", "10.0.0.1, a private")]
    [InlineData("64:ff9b:1::a00:1", "local-use NAT64")]
    [InlineData("::7f00:1", "reserved")]
    public void Internal_addresses_in_IPv6_forms_are_refused(string address, string kind) =>
        Assert.Contains(kind, SubscriberUrlPolicy.Forbidden(IPAddress.Parse(address)), StringComparison.Ordinal);

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("93.184.216.34")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.1")]
    [InlineData("192.167.1.1")]
    [InlineData("100.63.255.255")]
    [InlineData("11.0.0.1")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("2a00:1450:4001:82b::200e")]
    [InlineData("64:ff9b::808:808")]
    [InlineData("2002:808:808::1")]
    public void Public_addresses_are_allowed(string address) =>
        Assert.Null(SubscriberUrlPolicy.Forbidden(IPAddress.Parse(address)));

    [Theory]
    [InlineData("127.0.0.1", "a loopback address")]
    [InlineData("::1", "a loopback address")]
    [InlineData("10.20.30.40", "a private network address")]
    [InlineData("172.16.5.4", "a private network address")]
    [InlineData("192.168.100.1", "a private network address")]
    [InlineData("169.254.169.254", "a cloud metadata address")]
    [InlineData("fd00:ec2::254", "a cloud metadata address")]
    [InlineData("fe80::1", "a link-local address")]
    [InlineData("::ffff:127.0.0.1", "a loopback address")]
    public async Task A_host_name_that_resolves_to_an_internal_address_is_refused_at_registration(string address, string kind)
    {
        var resolver = new FakeHostResolver().Map("hooks.partner.example", address);

        var refused = await Policy(resolver).CheckTargetAsync(new Uri("https://hooks.partner.example/mykaarma"), CancellationToken.None);

        Assert.NotNull(refused);
        Assert.Contains("'hooks.partner.example' resolves to", refused, StringComparison.Ordinal);
        Assert.Contains(kind, refused, StringComparison.Ordinal);
        Assert.Contains("Relay:AllowPrivateNetworkTargets", refused, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_internal_address_among_public_ones_is_enough_to_refuse()
    {
        var resolver = new FakeHostResolver().Map("hooks.partner.example", "93.184.216.34", "10.0.0.7");

        var refused = await Policy(resolver).CheckTargetAsync(new Uri("https://hooks.partner.example/"), CancellationToken.None);

        Assert.Contains("10.0.0.7", refused, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_name_that_resolves_only_to_public_addresses_is_allowed()
    {
        var resolver = new FakeHostResolver().Map("hooks.partner.example", "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946");

        Assert.Null(await Policy(resolver).CheckTargetAsync(new Uri("https://hooks.partner.example/"), CancellationToken.None));
        Assert.Equal(1, resolver.Lookups);
    }

    [Theory]
    [InlineData("https://127.0.0.1/hook", "a loopback address")]
    [InlineData("https://[::1]:8443/hook", "a loopback address")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "a cloud metadata address")]
    [InlineData("https://[fd00:ec2::254]/", "a cloud metadata address")]
    [InlineData("https://[::ffff:a00:1]/", "a private network address")]
    [InlineData("https://2130706433/", "a loopback address")]
    public async Task An_address_written_in_the_url_is_judged_without_a_lookup(string url, string kind)
    {
        var resolver = new FakeHostResolver();

        var refused = await Policy(resolver).CheckTargetAsync(new Uri(url), CancellationToken.None);

        Assert.Contains(kind, refused, StringComparison.Ordinal);
        Assert.Equal(0, resolver.Lookups);
    }

    [Fact]
    public async Task A_host_name_that_does_not_resolve_is_refused()
    {
        var refused = await Policy(new FakeHostResolver()).CheckTargetAsync(new Uri("https://nowhere.example/"), CancellationToken.None);

        Assert.Contains("'nowhere.example' does not resolve", refused, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_name_the_resolver_fails_on_otherwise_is_refused_with_why()
    {
        var resolver = new FakeHostResolver().Fail("odd.example", new ArgumentException("The host name is not valid."));

        var refused = await Policy(resolver).CheckTargetAsync(new Uri("https://odd.example/"), CancellationToken.None);

        Assert.Equal("the host 'odd.example' could not be resolved: The host name is not valid.", refused);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("10.0.0.1")]
    [InlineData("169.254.10.1")]
    [InlineData("fd12:3456::1")]
    public async Task Private_targets_are_allowed_when_configured(string address)
    {
        var resolver = new FakeHostResolver().Map("crm.internal", address);

        Assert.Null(await Policy(resolver, allowPrivate: true).CheckTargetAsync(new Uri("https://crm.internal/"), CancellationToken.None));
    }

    [Fact]
    public async Task Where_private_targets_are_allowed_a_name_that_does_not_resolve_here_is_accepted() =>
        Assert.Null(await Policy(new FakeHostResolver(), allowPrivate: true).CheckTargetAsync(new Uri("https://crm.corp/"), CancellationToken.None));

    [Theory]
    [InlineData("169.254.169.254", "a cloud metadata address")]
    [InlineData("fd00:ec2::254", "a cloud metadata address")]
    [InlineData("100.100.100.200", "a cloud metadata address")]
    [InlineData("168.63.129.16", "a cloud platform address")]
    [InlineData("::ffff:169.254.169.254", "a cloud metadata address")]
    [InlineData("64:ff9b::a9fe:a9fe", "which carries 169.254.169.254, a cloud metadata address")]
    public async Task Cloud_platform_endpoints_are_refused_even_where_private_targets_are_allowed(string address, string kind)
    {
        var resolver = new FakeHostResolver().Map("crm.internal", address);

        var refused = await Policy(resolver, allowPrivate: true).CheckTargetAsync(new Uri("https://crm.internal/"), CancellationToken.None);

        Assert.NotNull(refused);
        Assert.Contains($"resolves to {IPAddress.Parse(address)}, {kind}", refused, StringComparison.Ordinal);
        Assert.Contains("whatever Relay:AllowPrivateNetworkTargets says", refused, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Production", null, true)]
    [InlineData("Staging", null, true)]
    [InlineData("Development", null, false)]
    [InlineData("Production", false, false)]
    [InlineData("Development", true, true)]
    public void Https_is_required_outside_Development_unless_turned_off(string environment, bool? configured, bool required) =>
        Assert.Equal(required, Policy(new FakeHostResolver(), environment: environment, requireHttps: configured).RequireHttps);

    [Theory]
    [InlineData("Production", null, true)]
    [InlineData("Production", false, false)]
    [InlineData("Development", null, false)]
    public void An_http_url_is_refused_by_the_definition_check_where_https_is_required(string environment, bool? configured, bool refused)
    {
        var rules = Policy(new FakeHostResolver(), environment: environment, requireHttps: configured).Rules(8);

        var (subscriber, errors) = SubscriberDefinitions.Check(new SubscriberDefinition { Name = "crm", Url = "http://crm.example/hooks" }, rules);

        if (refused)
        {
            Assert.Null(subscriber);
            var error = Assert.Single(errors);
            Assert.Equal("Url", error.Field);
            Assert.Contains("must be https", error.Message, StringComparison.Ordinal);
            Assert.Contains("Relay:RequireHttps", error.Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.Empty(errors);
            Assert.Equal("http", subscriber!.Url.Scheme);
        }

        // An https URL passes everywhere.
        Assert.Empty(SubscriberDefinitions.Check(new SubscriberDefinition { Name = "crm", Url = "https://crm.example/hooks" }, rules).Errors);
    }

    private static SubscriberUrlPolicy Policy(HostResolver resolver, bool allowPrivate = false, string environment = "Production",
        bool? requireHttps = null) =>
        new(Options.Create(new RelayOptions { AllowPrivateNetworkTargets = allowPrivate, RequireHttps = requireHttps }),
            new Environment(environment), resolver);

    private sealed class Environment(string name) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = name;

        public string ApplicationName { get; set; } = "Aspire.Webhooks.Relay";

        public string ContentRootPath { get; set; } = AppContext.BaseDirectory;

        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }
}
