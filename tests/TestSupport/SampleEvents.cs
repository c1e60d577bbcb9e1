using System.Text;
using System.Text.Json.Nodes;

namespace Aspire.Webhooks.TestSupport;

/// <summary>The four example events of myKaarma's document, in wire form (payload stringified).</summary>
public static class SampleEvents
{
    public const string Customer = "customer";
    public const string Appointment = "appointment";
    public const string ServiceOrder = "service-order";
    public const string Mpi = "mpi";

    public static IReadOnlyList<string> All { get; } = [Customer, Appointment, ServiceOrder, Mpi];

    public static byte[] Bytes(string name) =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "samples", name + ".json"));

    public static string Text(string name) => Encoding.UTF8.GetString(Bytes(name));

    /// <summary>The sample with envelope fields changed; a null value removes the field.</summary>
    public static byte[] With(string name, params (string Field, JsonNode? Value)[] changes)
    {
        var envelope = JsonNode.Parse(Text(name))!.AsObject();
        foreach (var (field, value) in changes)
        {
            if (value is null)
            {
                envelope.Remove(field);
            }
            else
            {
                envelope[field] = value;
            }
        }

        return Encoding.UTF8.GetBytes(envelope.ToJsonString());
    }

    /// <summary>The sample with a fresh event id, as a new occurrence of the same change would have.</summary>
    public static byte[] WithFreshId(string name) => With(name, ("id", Guid.NewGuid().ToString()));
}
