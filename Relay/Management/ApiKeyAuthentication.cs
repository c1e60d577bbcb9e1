using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>
/// API keys in the <c>X-Api-Key</c> header: a key from <c>Relay:AdminApiKeys</c> may do anything, one from
/// <c>Relay:ReadOnlyApiKeys</c> may only read. Keys are compared in constant time, so the time an answer takes
/// tells nothing about how much of a key was right.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptionsMonitor<ApiKeyOptions> keys,
    IProblemDetailsService problems) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string HeaderName = "X-Api-Key";
    public const string AdminRole = "admin";
    public const string ReadOnlyRole = "read-only";

    /// <summary>Any key; a read-only key only for <c>GET</c> and <c>HEAD</c>.</summary>
    public const string ApiPolicy = "RelayApi";

    /// <summary>An admin key, whatever the method (for reads that reveal secrets).</summary>
    public const string AdminPolicy = "RelayAdmin";

    private const string NoKeyConfigured = "no-key-configured";
    private const string UnknownKey = "unknown-key";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Request.Headers[HeaderName].ToString();
        if (presented.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var current = keys.CurrentValue;
        if (!current.AnyConfigured)
        {
            return Task.FromResult(AuthenticateResult.Fail(NoKeyConfigured));
        }

        var role = Match(presented, current);
        if (role is null)
        {
            return Task.FromResult(AuthenticateResult.Fail(UnknownKey));
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Role, role)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    /// <summary>The role of the presented key, or null. Every configured key is compared, whichever matches.</summary>
    internal static string? Match(string presented, ApiKeyOptions options)
    {
        // Hashing first gives both sides one length, so FixedTimeEquals compares whole values.
        var hash = Hash(presented);
        string? role = null;
        foreach (var key in options.AdminApiKeys)
        {
            if (CryptographicOperations.FixedTimeEquals(Hash(key.Trim()), hash))
            {
                role ??= AdminRole;
            }
        }

        foreach (var key in options.ReadOnlyApiKeys)
        {
            if (CryptographicOperations.FixedTimeEquals(Hash(key.Trim()), hash))
            {
                role ??= ReadOnlyRole;
            }
        }

        return role;
    }

    private static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var detail = !keys.CurrentValue.AnyConfigured
            ? "The management API has no API key configured, so it refuses every request: set Relay:AdminApiKeys:0 " +
              "(environment Relay__AdminApiKeys__0) to a secret of at least 16 characters and send it in the X-Api-Key header."
            : result.Failure?.Message == UnknownKey
                ? $"The {HeaderName} header is not one of the configured API keys."
                : $"The {HeaderName} header is missing; send a key from Relay:AdminApiKeys or Relay:ReadOnlyApiKeys.";
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = $"{SchemeName} header=\"{HeaderName}\"";
        await WriteProblemAsync(StatusCodes.Status401Unauthorized, "Not authenticated", detail);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        return WriteProblemAsync(StatusCodes.Status403Forbidden, "Not allowed with this key",
            $"The {HeaderName} is a read-only key (Relay:ReadOnlyApiKeys); this request needs a key from Relay:AdminApiKeys.");
    }

    private Task WriteProblemAsync(int status, string title, string detail) =>
        problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = status,
                Title = title,
                Detail = detail,
                Extensions = { ["header"] = HeaderName },
            },
        }).AsTask();

    /// <summary>The two policies of the management API.</summary>
    internal static void AddPolicies(AuthorizationBuilder authorization) => authorization
        .AddPolicy(ApiPolicy, policy => policy
            .AddAuthenticationSchemes(SchemeName)
            .RequireAuthenticatedUser()
            .RequireAssertion(context => context.User.IsInRole(AdminRole) ||
                (context.User.IsInRole(ReadOnlyRole) && context.Resource is HttpContext http &&
                 (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method)))))
        .AddPolicy(AdminPolicy, policy => policy
            .AddAuthenticationSchemes(SchemeName)
            .RequireAuthenticatedUser()
            .RequireRole(AdminRole));
}
