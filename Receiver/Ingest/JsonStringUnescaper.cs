using System.Buffers.Text;
using System.Text;

namespace Aspire.Webhooks.Receiver.Ingest;

/// <summary>
/// Decodes the inside of a JSON string that a <see cref="System.Text.Json.Utf8JsonReader"/> has already validated (so
/// every escape is well formed) into UTF-8. The stringified payload is a few kilobytes that are almost all escapes;
/// a second reader over the same string would validate it byte by byte once more just to unescape it.
/// </summary>
public static class JsonStringUnescaper
{
    /// <summary>
    /// Writes the unescaped text of <paramref name="escaped"/> (the bytes between the quotes) to
    /// <paramref name="destination"/>, which needs no more room than <paramref name="escaped"/> has: no escape
    /// decodes to more bytes than it takes. Returns false when a <c>\u</c> escape names half of a surrogate pair
    /// without the other half, which is no text at all.
    /// </summary>
    public static bool TryUnescape(ReadOnlySpan<byte> escaped, Span<byte> destination, out int written)
    {
        written = 0;
        while (true)
        {
            var backslash = escaped.IndexOf((byte)'\\');
            var run = backslash < 0 ? escaped : escaped[..backslash];
            run.CopyTo(destination[written..]);
            written += run.Length;
            if (backslash < 0)
            {
                return true;
            }

            var escape = escaped[backslash + 1];
            escaped = escaped[(backslash + 2)..];
            if (escape != (byte)'u')
            {
                destination[written++] = escape switch
                {
                    (byte)'b' => (byte)'\b',
                    (byte)'f' => (byte)'\f',
                    (byte)'n' => (byte)'\n',
                    (byte)'r' => (byte)'\r',
                    (byte)'t' => (byte)'\t',
                    _ => escape, // \" \\ \/
                };
                continue;
            }

            var scalar = ReadHex4(escaped);
            escaped = escaped[4..];
            if (char.IsLowSurrogate((char)scalar))
            {
                return false;
            }

            if (char.IsHighSurrogate((char)scalar))
            {
                if (escaped.Length < 6 || escaped[0] != (byte)'\\' || escaped[1] != (byte)'u')
                {
                    return false;
                }

                var low = ReadHex4(escaped[2..]);
                if (!char.IsLowSurrogate((char)low))
                {
                    return false;
                }

                scalar = char.ConvertToUtf32((char)scalar, (char)low);
                escaped = escaped[6..];
            }

            written += new Rune(scalar).EncodeToUtf8(destination[written..]);
        }
    }

    /// <summary>The four hex digits the reader already accepted after <c>\u</c>.</summary>
    private static int ReadHex4(ReadOnlySpan<byte> hex)
    {
        Utf8Parser.TryParse(hex[..4], out ushort value, out _, 'X');
        return value;
    }
}
