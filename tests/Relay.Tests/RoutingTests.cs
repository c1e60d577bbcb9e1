using Aspire.Webhooks.Relay.Routing;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>The document's four examples against a matrix of rules.</summary>
public sealed class RoutingTests
{
    private const string Dealer = "cb731d36fd635ddd6ef8dd43500892b0c0249d1c01a46dbcc445a809c0a8e3b2";
    private const string ServiceDepartment = "8ec821aefe98664ab15df7c426c3c46f9c37d0b1aeda9ff58df3db89bb0a55a3";

    public static TheoryData<string, SubscriberFilter, string[]> Rules => new()
    {
        { "everything", new SubscriberFilter(), ["customer", "appointment", "service-order", "mpi"] },
        { "this dealer", new SubscriberFilter { Dealers = [Dealer] }, ["customer", "appointment", "service-order", "mpi"] },
        { "dealer in upper case", new SubscriberFilter { Dealers = [Dealer.ToUpperInvariant()] }, ["customer", "appointment", "service-order", "mpi"] },
        { "another dealer", new SubscriberFilter { Dealers = ["another-dealer"] }, [] },
        { "customers only", new SubscriberFilter { EventTypes = ["customers"] }, ["customer"] },
        { "orders and inspections", new SubscriberFilter { EventTypes = ["service-orders", "mpis"] }, ["service-order", "mpi"] },
        // The appointment's department is only in its payload; customers and orders carry none, so they do not match.
        { "service department", new SubscriberFilter { Departments = [ServiceDepartment] }, ["appointment"] },
        { "MPI department from payload", new SubscriberFilter { Departments = ["string"] }, ["mpi"] },
        { "rescheduled appointments", new SubscriberFilter { AppointmentEvents = ["RESCHEDULED"] }, ["appointment"] },
        { "cancelled appointments", new SubscriberFilter { AppointmentEvents = ["CANCELLED"] }, [] },
        { "status rescheduled", new SubscriberFilter { AppointmentStatuses = ["Rescheduled"] }, ["appointment"] },
        { "no-shows", new SubscriberFilter { AppointmentStatuses = ["No Show"] }, [] },
        {
            "all fields at once",
            new SubscriberFilter
            {
                Dealers = [Dealer], Departments = [ServiceDepartment], EventTypes = ["appointments"],
                AppointmentEvents = ["RESCHEDULED", "CANCELLED"], AppointmentStatuses = ["Rescheduled"],
            },
            ["appointment"]
        },
        { "unknown kinds only", new SubscriberFilter { EventTypes = ["unknown"] }, [] },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void Each_rule_matches_exactly_the_expected_examples(string rule, SubscriberFilter filter, string[] expected)
    {
        var matched = SampleEvents.All.Where(name =>
        {
            var e = Events.Sample(name);
            return filter.Matches(e.Type, e.Routing);
        });
        Assert.True(expected.SequenceEqual(matched), $"rule '{rule}' matched [{string.Join(", ", matched)}]");
    }

    [Fact]
    public void The_service_order_and_mpi_sharing_an_id_are_told_apart_by_type()
    {
        var order = Events.Sample(SampleEvents.ServiceOrder);
        var mpi = Events.Sample(SampleEvents.Mpi);
        Assert.Equal(order.Id, mpi.Id);
        var ordersOnly = new SubscriberFilter { EventTypes = ["service-orders"] };
        Assert.True(ordersOnly.Matches(order.Type, order.Routing));
        Assert.False(ordersOnly.Matches(mpi.Type, mpi.Routing));
    }

    [Fact]
    public void The_unknown_rule_matches_a_new_kind_and_nothing_known()
    {
        var vehicle = Events.Parse(SampleEvents.With(SampleEvents.Customer, ("type", "vehicles")));
        var unknownOnly = new SubscriberFilter { EventTypes = ["unknown"] };
        Assert.True(unknownOnly.Matches(vehicle.Type, vehicle.Routing));
        Assert.False(new SubscriberFilter { EventTypes = ["customers"] }.Matches(vehicle.Type, vehicle.Routing));
    }
}
