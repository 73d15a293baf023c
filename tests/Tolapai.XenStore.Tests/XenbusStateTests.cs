using System.Text;
using Tolapai.Xen.Xenbus;

namespace Tolapai.XenStore.Tests;

/// <summary>The Xenbus transition table, state parsing and device paths, without a store.</summary>
public class XenbusStateTests
{
    [Theory]
    [InlineData(XenbusSide.Frontend, XenbusState.Initialising, XenbusState.Initialised, XenbusState.InitWait, true)]
    [InlineData(XenbusSide.Frontend, XenbusState.Initialising, XenbusState.Initialised, XenbusState.Initialising, false)]
    [InlineData(XenbusSide.Frontend, XenbusState.Initialising, XenbusState.Connected, XenbusState.InitWait, true)]
    [InlineData(XenbusSide.Frontend, XenbusState.Initialised, XenbusState.Connected, XenbusState.InitWait, false)]
    [InlineData(XenbusSide.Frontend, XenbusState.Initialised, XenbusState.Connected, XenbusState.Connected, true)]
    [InlineData(XenbusSide.Frontend, XenbusState.Connected, XenbusState.Reconfiguring, XenbusState.Connected, false)]
    [InlineData(XenbusSide.Frontend, XenbusState.Closed, XenbusState.Initialising, XenbusState.Closed, true)]
    [InlineData(XenbusSide.Frontend, XenbusState.Closed, XenbusState.Closing, XenbusState.Closed, false)]
    [InlineData(XenbusSide.Frontend, XenbusState.Connected, XenbusState.Initialising, XenbusState.Connected, false)]
    [InlineData(XenbusSide.Backend, XenbusState.Initialising, XenbusState.InitWait, XenbusState.Initialising, true)]
    [InlineData(XenbusSide.Backend, XenbusState.InitWait, XenbusState.Connected, XenbusState.Initialised, true)]
    [InlineData(XenbusSide.Backend, XenbusState.InitWait, XenbusState.Connected, XenbusState.Initialising, false)]
    [InlineData(XenbusSide.Backend, XenbusState.InitWait, XenbusState.Initialised, XenbusState.Initialising, false)]
    [InlineData(XenbusSide.Backend, XenbusState.Connected, XenbusState.Reconfiguring, XenbusState.Connected, true)]
    [InlineData(XenbusSide.Backend, XenbusState.Reconfiguring, XenbusState.Reconfigured, XenbusState.Connected, true)]
    [InlineData(XenbusSide.Backend, XenbusState.Reconfigured, XenbusState.Connected, XenbusState.Connected, true)]
    [InlineData(XenbusSide.Backend, XenbusState.Connected, XenbusState.Closing, XenbusState.Connected, true)]
    [InlineData(XenbusSide.Backend, XenbusState.Closing, XenbusState.Closed, XenbusState.Connected, true)]
    [InlineData(XenbusSide.Backend, XenbusState.Connected, XenbusState.Closed, XenbusState.Connected, false)]
    [InlineData(XenbusSide.Backend, XenbusState.Closed, XenbusState.InitWait, XenbusState.Initialising, true)]
    [InlineData(XenbusSide.Backend, XenbusState.Closed, XenbusState.InitWait, XenbusState.Closed, false)]
    public void The_transition_table_follows_the_Linux_drivers(XenbusSide side, XenbusState from, XenbusState to, XenbusState peer, bool legal) =>
        Assert.Equal(legal, XenbusTransitions.IsLegal(side, from, to, XenbusPeerState.Present(peer)));

    [Fact]
    public void Peer_dependent_transitions_are_refused_when_the_peer_is_missing_or_broken()
    {
        Assert.False(XenbusTransitions.IsLegal(XenbusSide.Backend, XenbusState.InitWait, XenbusState.Connected, XenbusPeerState.Missing));
        Assert.False(XenbusTransitions.IsLegal(XenbusSide.Frontend, XenbusState.Initialising, XenbusState.Initialised, XenbusPeerState.Malformed));
        Assert.True(XenbusTransitions.IsLegal(XenbusSide.Frontend, XenbusState.Initialising, XenbusState.Closing, XenbusPeerState.Malformed));
    }

    [Theory]
    [InlineData("0", XenbusPeerCondition.Present, XenbusState.Unknown)]
    [InlineData("4", XenbusPeerCondition.Present, XenbusState.Connected)]
    [InlineData("8", XenbusPeerCondition.Present, XenbusState.Reconfigured)]
    [InlineData("9", XenbusPeerCondition.Malformed, XenbusState.Unknown)]
    [InlineData("04", XenbusPeerCondition.Malformed, XenbusState.Unknown)]
    [InlineData("4 ", XenbusPeerCondition.Malformed, XenbusState.Unknown)]
    [InlineData("4\0", XenbusPeerCondition.Malformed, XenbusState.Unknown)]
    [InlineData("+4", XenbusPeerCondition.Malformed, XenbusState.Unknown)]
    [InlineData("-1", XenbusPeerCondition.Malformed, XenbusState.Unknown)]
    [InlineData("Connected", XenbusPeerCondition.Malformed, XenbusState.Unknown)]
    [InlineData("", XenbusPeerCondition.Malformed, XenbusState.Unknown)]
    public void State_keys_are_parsed_strictly(string value, XenbusPeerCondition condition, XenbusState state) =>
        Assert.Equal(new XenbusPeerState(condition, state), XenbusPaths.Parse(Encoding.ASCII.GetBytes(value)));

    [Fact]
    public void Paths_are_the_ones_Xen_uses()
    {
        Assert.Equal("/local/domain/7/device/ixp/3", XenbusPaths.Frontend(7, "ixp", 3));
        Assert.Equal("/local/domain/0/backend/ixp/7/3", XenbusPaths.Backend(7, "ixp", 3));
        Assert.Equal("/local/domain/2/backend/vbd/7/51712", XenbusPaths.Backend(7, "vbd", 51712, 2));
        Assert.Throws<ArgumentException>(() => XenbusPaths.Frontend(7, "ixp/../x", 0));
    }
}
