using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Aspire.Webhooks.Receiver.Ingest;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>The payload's own unescaping must give exactly the text System.Text.Json would.</summary>
public sealed class JsonStringUnescaperTests
{
    private static byte[] Unescape(string quotedJsonString)
    {
        var escaped = Encoding.UTF8.GetBytes(quotedJsonString)[1..^1];
        var destination = new byte[escaped.Length];
        Assert.True(JsonStringUnescaper.TryUnescape(escaped, destination, out var written), quotedJsonString);
        return destination[..written];
    }

    public static TheoryData<string> Texts => new()
    {
        "",
        "plain ascii with no escape at all",
        "quote \" backslash \\ slash / controls \b\f\n\r\t end",
        "\u0001\u001f low controls",
        "caf\u00e9 \u20ac \u4e2d\u6587 two- and three-byte",
        "\U0001F697 \U0001F527 surrogate pairs \U0010FFFF",
        """{"customerUuid":"GFRR8beBGW8agB5k","emails":[{"label":"home"}],"n":1.5}""",
        "\\u0041 is six characters, not an A",
        "ends with an escape\n",
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public void Every_escape_decodes_as_system_text_json_decodes_it(string text)
    {
        // Both the default encoder (escapes all non-ASCII as \uXXXX, pairs included) and the relaxed one (raw UTF-8).
        foreach (var encoder in new[] { JavaScriptEncoder.Default, JavaScriptEncoder.UnsafeRelaxedJsonEscaping })
        {
            var quoted = JsonSerializer.Serialize(text, new JsonSerializerOptions { Encoder = encoder });

            Assert.Equal(Encoding.UTF8.GetBytes(text), Unescape(quoted));
        }
    }

    [Fact]
    public void Hand_written_escapes_in_either_case_and_the_escaped_slash_decode()
    {
        Assert.Equal("A\u00e9\U0001F697/"u8.ToArray(), Unescape("\"\\u0041\\u00E9\\uD83D\\ude97\\/\""));
    }

    [Theory]
    [InlineData("\"\\ud800\"")]
    [InlineData("\"\\udc00\"")]
    [InlineData("\"\\ud800x\"")]
    [InlineData("\"\\ud800\\u0041\"")]
    [InlineData("\"\\ud800\\ud800\"")]
    [InlineData("\"a\\ude97\\ud83d\"")]
    public void Half_a_surrogate_pair_is_refused(string quoted)
    {
        var escaped = Encoding.UTF8.GetBytes(quoted)[1..^1];

        Assert.False(JsonStringUnescaper.TryUnescape(escaped, new byte[escaped.Length], out _));
    }
}
