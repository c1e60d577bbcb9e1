using Aspire.Webhooks.Contracts;

namespace Aspire.Webhooks.Receiver.Tests;

public sealed class EventIdentityTests
{
    [Fact]
    public void The_same_type_and_id_always_give_the_same_message_id() =>
        Assert.Equal(EventIdentity.MessageId("customers", "abc"), EventIdentity.MessageId("customers", "abc"));

    [Fact]
    public void A_service_order_and_an_mpi_sharing_an_id_get_different_message_ids()
    {
        const string sharedId = "952fcf6d-5b68-41b0-ae8e-872f88bc882e";
        Assert.NotEqual(EventIdentity.MessageId("service-orders", sharedId), EventIdentity.MessageId("mpis", sharedId));
    }

    [Fact]
    public void Type_and_id_boundaries_cannot_be_confused() =>
        Assert.NotEqual(EventIdentity.MessageId("a", "bc"), EventIdentity.MessageId("ab", "c"));

    [Fact]
    public void The_message_id_is_a_version_8_rfc_uuid()
    {
        var text = EventIdentity.MessageId("customers", "abc").ToString();
        Assert.Equal('8', text[14]);
        Assert.Contains(text[19], "89ab");
    }
}
