using System.Security.Cryptography;
using System.Text;

namespace Aspire.Webhooks.Contracts;

/// <summary>myKaarma identifies an event by its type and id together; this turns that pair into one stable id.</summary>
public static class EventIdentity
{
    /// <summary>
    /// A name-based UUID (RFC 9562 version 8 layout over SHA-256) of <c>type</c> and <c>id</c>: every retry of one
    /// event gets the same message id, and the service-order and MPI that share an <c>id</c> get different ones.
    /// </summary>
    public static Guid MessageId(string type, string id)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes($"mykaarma\n{type}\n{id}"), hash);
        var bytes = hash[..16];
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // version 8
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(bytes, bigEndian: true);
    }
}
