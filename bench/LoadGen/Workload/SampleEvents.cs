using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Aspire.Webhooks.LoadGen.Workload;

/// <summary>One event ready to post: its body and the signature header myKaarma would send with it.</summary>
public readonly record struct SignedEvent(string Sample, byte[] Body, string Signature);

/// <summary>
/// The four myKaarma samples, handed out round-robin, each time with a fresh top-level <c>id</c> and signed over
/// the final bytes. Everything around the id stays byte-identical to the sample, so the Receiver parses, signs
/// and publishes exactly what myKaarma's wire form would make it do; only de-duplication sees distinct events.
/// </summary>
public sealed class SampleEvents
{
    public const string SignaturePrefix = "sha256=";
    private const int IdLength = 36; // a GUID in its "D" form, the shape of myKaarma's ids
    private static readonly string[] FileNames = ["customer.json", "appointment.json", "service-order.json", "mpi.json"];

    private readonly Template[] _templates;
    private readonly byte[] _secret;
    private long _next = -1;

    private SampleEvents(Template[] templates, byte[] secret) => (_templates, _secret) = (templates, secret);

    public IEnumerable<(string Name, int Bytes)> Sizes =>
        _templates.Select(t => (t.Name, t.Prefix.Length + IdLength + t.Suffix.Length));

    public static SampleEvents Load(string directory, string secret)
    {
        var templates = FileNames
            .Select(name => Template.From(name, File.ReadAllBytes(Path.Combine(directory, name))))
            .ToArray();
        return new SampleEvents(templates, Encoding.UTF8.GetBytes(secret));
    }

    /// <summary>The next sample in turn, with a new id; safe to call from any number of senders at once.</summary>
    public SignedEvent Next()
    {
        var template = _templates[(int)((ulong)Interlocked.Increment(ref _next) % (ulong)_templates.Length)];
        var body = new byte[template.Prefix.Length + IdLength + template.Suffix.Length];
        template.Prefix.CopyTo(body, 0);
        Guid.NewGuid().TryFormat(body.AsSpan(template.Prefix.Length, IdLength), out _, "D");
        template.Suffix.CopyTo(body, template.Prefix.Length + IdLength);

        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_secret, body, mac);
        return new SignedEvent(template.Name, body, SignaturePrefix + Convert.ToHexStringLower(mac));
    }

    /// <summary>Finds the samples folder of this repository from wherever the tool was started or built.</summary>
    public static string? FindDirectory()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "samples", "mykaarma");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>A sample split around the value of its top-level id, so a new id is a copy, not a re-serialisation.</summary>
    private sealed record Template(string Name, byte[] Prefix, byte[] Suffix)
    {
        public static Template From(string fileName, byte[] json)
        {
            var reader = new Utf8JsonReader(json);
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1 || !reader.ValueTextEquals("id"))
                {
                    continue;
                }

                reader.Read();
                if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped)
                {
                    break;
                }

                // TokenStartIndex is the opening quote; the unescaped value follows it byte for byte.
                var start = (int)reader.TokenStartIndex + 1;
                var end = start + reader.ValueSpan.Length;
                return new Template(Path.GetFileNameWithoutExtension(fileName), json[..start], json[end..]);
            }

            throw new InvalidDataException($"{fileName} has no top-level string \"id\" to replace.");
        }
    }
}
