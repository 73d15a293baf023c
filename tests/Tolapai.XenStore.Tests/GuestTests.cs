using Tolapai.Xen.XenStore;
using static Tolapai.XenStore.Tests.Wire;

namespace Tolapai.XenStore.Tests;

/// <summary>Guest connections: identity from the channel, permissions, relative paths, quotas.</summary>
public class GuestTests
{
    /// <summary>As a toolstack does: /local/domain/&lt;id&gt; owned by the guest, readable by nobody else.</summary>
    private static async Task HomeAsync(XenStoreClient dom0, uint domid)
    {
        string home = XsPath.DomainPath(domid);
        await dom0.MkdirAsync(home);
        await dom0.SetPermsAsync(home, [new(domid, XsAccess.None)]);
    }

    [Fact]
    public async Task A_guest_may_not_read_write_or_list_another_guests_nodes()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient dom0 = await f.Dom0Async();
        await HomeAsync(dom0, 1);
        await HomeAsync(dom0, 2);
        await dom0.WriteAsync("/local/domain/2/secret", "s");
        XenStoreClient g1 = f.Guest(1);
        XenStoreClient g2 = f.Guest(2);

        async Task<string?> Err(Task t)
        {
            try
            {
                await t;
                return null;
            }
            catch (XenStoreException e)
            {
                return e.ErrorName;
            }
        }
        Assert.Equal("EACCES", await Err(g1.ReadAsync("/local/domain/2/secret")));
        Assert.Equal("EACCES", await Err(g1.ReadAsync("/local/domain/2/missing"))); // existence not leaked
        Assert.Equal("EACCES", await Err(g1.DirectoryAsync("/local/domain/2")));
        Assert.Equal("EACCES", await Err(g1.WriteAsync("/local/domain/2/secret", "x")));
        Assert.Equal("EACCES", await Err(g1.WriteAsync("/local/domain/2/new", "x")));
        Assert.Equal("EACCES", await Err(g1.RmAsync("/local/domain/2/secret")));
        Assert.Equal("EACCES", await Err(g1.GetPermsAsync("/local/domain/2")));
        Assert.Equal("EACCES", await Err(g1.SetPermsAsync("/local/domain/2", [new(1, XsAccess.Both)])));
        Assert.Equal("EACCES", await Err(g1.WriteAsync("/tool/x", "x"))); // dom0's
        Assert.Equal("s", await g2.ReadStringAsync("/local/domain/2/secret"));

        // Owner may give read access; it may not give the node away.
        await g2.SetPermsAsync("/local/domain/2/secret", [new(2, XsAccess.None), new(1, XsAccess.Read)]);
        Assert.Equal("s", await g1.ReadStringAsync("/local/domain/2/secret"));
        Assert.Equal("EACCES", await Err(g1.WriteAsync("/local/domain/2/secret", "x")));
        Assert.Equal("EPERM", await Err(g2.SetPermsAsync("/local/domain/2/secret", [new(1, XsAccess.None)])));
    }

    [Fact]
    public async Task A_guest_gets_no_watch_events_for_nodes_it_cannot_read()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient dom0 = await f.Dom0Async();
        await HomeAsync(dom0, 1);
        await HomeAsync(dom0, 2);
        XenStoreClient g1 = f.Guest(1);
        XenStoreClient g2 = f.Guest(2);
        await g1.WatchAsync("/local/domain/2", "spy"); // allowed, as in Xen, but...
        Assert.Equal(new XsWatchEvent("/local/domain/2", "spy"), await NextEventAsync(g1)); // the one at set
        await g1.WatchAsync("/local/domain/1/own", "mine");
        Assert.Equal(new XsWatchEvent("/local/domain/1/own", "mine"), await NextEventAsync(g1));
        await g2.WriteAsync("/local/domain/2/key", "private");
        await dom0.WriteAsync("/local/domain/2/other", "private too");
        await g1.WriteAsync("/local/domain/1/own", "sentinel");
        Assert.Equal(new XsWatchEvent("/local/domain/1/own", "mine"), await NextEventAsync(g1)); // nothing before it
        // Guests do not see domains come and go either (the special nodes are dom0's).
        await g1.WatchAsync("@introduceDomain", "i");
        Assert.Equal(new XsWatchEvent("@introduceDomain", "i"), await NextEventAsync(g1));
        await dom0.IntroduceAsync(9, 1, 1);
        await g1.WriteAsync("/local/domain/1/own", "sentinel2");
        Assert.Equal(new XsWatchEvent("/local/domain/1/own", "mine"), await NextEventAsync(g1));
    }

    [Fact]
    public async Task Relative_paths_resolve_under_the_guests_home_and_watch_events_stay_relative()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient dom0 = await f.Dom0Async();
        await HomeAsync(dom0, 4);
        XenStoreClient g = f.Guest(4);
        await g.WatchAsync("device", "d");
        Assert.Equal(new XsWatchEvent("device", "d"), await NextEventAsync(g));
        await g.WriteAsync("device/ixp/0/state", "1");
        Assert.Equal(new XsWatchEvent("device/ixp/0/state", "d"), await NextEventAsync(g));
        Assert.Equal("1", await dom0.ReadStringAsync("/local/domain/4/device/ixp/0/state"));
        Assert.Equal([new(4, XsAccess.None)], await dom0.GetPermsAsync("/local/domain/4/device/ixp/0/state")); // guest owns what it makes
        await dom0.WriteAsync("/local/domain/4/device/ixp/0/state", "4");
        Assert.Equal(new XsWatchEvent("device/ixp/0/state", "d"), await NextEventAsync(g));
        Assert.Equal("4", await g.ReadStringAsync("device/ixp/0/state"));
        await g.UnwatchAsync("device", "d");
    }

    [Fact]
    public async Task Set_target_lets_a_device_model_domain_act_on_its_targets_nodes()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient dom0 = await f.Dom0Async();
        await HomeAsync(dom0, 4);
        await dom0.WriteAsync("/local/domain/4/k", "v");
        await dom0.IntroduceAsync(3, 1, 1);
        await dom0.IntroduceAsync(4, 1, 1);
        XenStoreClient dm = f.Guest(3);
        Assert.Equal("EACCES", (await Assert.ThrowsAsync<XenStoreException>(() => dm.ReadAsync("/local/domain/4/k"))).ErrorName);
        Assert.False((await dom0.SendAsync(XsMessageType.SetTarget, Bytes("3\0004\0"))).IsError);
        Assert.Equal("v", await dm.ReadStringAsync("/local/domain/4/k"));
        await dm.WriteAsync("/local/domain/4/k", "from the device model");
        Assert.Equal("from the device model", await dom0.ReadStringAsync("/local/domain/4/k"));
    }

    [Fact]
    public async Task Privileged_operations_are_EACCES_for_guests()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient g = f.Guest(5);
        foreach (XsMessageType t in new[] { XsMessageType.Introduce, XsMessageType.Release, XsMessageType.IsDomainIntroduced, XsMessageType.Resume, XsMessageType.SetTarget, XsMessageType.Control })
            Assert.Equal("EACCES", (await g.SendAsync(t, Bytes("5\0001\0001\0"))).ErrorName);
    }

    [Fact]
    public async Task Node_quota_at_limit_and_limit_plus_one()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient dom0 = await f.Dom0Async();
        await HomeAsync(dom0, 1); // the home is owned by the guest: node 1 of 1000
        XenStoreClient g = f.Guest(1);
        for (int i = 1; i < 1000; i++)
            await g.WriteAsync($"n{i}", "");
        Assert.Equal("ENOSPC", (await Assert.ThrowsAsync<XenStoreException>(() => g.WriteAsync("n1000", ""))).ErrorName);
        Assert.Equal("ENOSPC", (await Assert.ThrowsAsync<XenStoreException>(() => g.MkdirAsync("a/b"))).ErrorName);
        await g.WriteAsync("n1", "rewrite is not a new node");
        await g.RmAsync("n1");
        await g.WriteAsync("n1000", "room again");
        await dom0.WriteAsync("/dom0/unlimited", "x"); // dom0 has no quota, and the store answers
        Assert.Equal("room again", await g.ReadStringAsync("n1000"));
    }

    [Fact]
    public async Task Node_quota_counts_nodes_created_inside_a_transaction()
    {
        await using var f = DaemonFixture.Start(new XenStoreOptions { NodesPerDomain = 5 });
        XenStoreClient dom0 = await f.Dom0Async();
        await HomeAsync(dom0, 1);
        XenStoreClient g = f.Guest(1);
        uint tx = await g.TransactionStartAsync();
        for (int i = 0; i < 4; i++)
            await g.WriteAsync($"t{i}", "", tx);
        Assert.Equal("ENOSPC", (await Assert.ThrowsAsync<XenStoreException>(() => g.WriteAsync("t4", "", tx))).ErrorName);
        Assert.True(await g.TransactionEndAsync(tx, true));
        Assert.Equal(4, (await g.DirectoryAsync("/local/domain/1")).Length);
    }

    [Fact]
    public async Task Value_size_quota_2048_for_guests_only()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient dom0 = await f.Dom0Async();
        await HomeAsync(dom0, 1);
        XenStoreClient g = f.Guest(1);
        await g.WriteAsync("v", new byte[2048]);
        Assert.Equal("ENOSPC", (await Assert.ThrowsAsync<XenStoreException>(() => g.WriteAsync("v", new byte[2049]))).ErrorName);
        Assert.Equal(2048, (await g.ReadAsync("v")).Length);
        await dom0.WriteAsync("/local/domain/1/big", new byte[4000]);
        Assert.Equal(4000, (await g.ReadAsync("big")).Length);
    }

    [Fact]
    public async Task Watch_quota_128_then_E2BIG()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient g = f.Guest(1);
        for (int i = 0; i < 128; i++)
            await g.WatchAsync($"w{i}", "t");
        Assert.Equal("E2BIG", (await Assert.ThrowsAsync<XenStoreException>(() => g.WatchAsync("w128", "t"))).ErrorName);
        await g.UnwatchAsync("w0", "t");
        await g.WatchAsync("w128", "t");
        XenStoreClient dom0 = await f.Dom0Async();
        for (int i = 0; i < 200; i++)
            await dom0.WatchAsync($"/w{i}", "t"); // dom0 exempt
    }

    [Fact]
    public async Task Transaction_quota_10_then_ENOSPC()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient g = f.Guest(1);
        var ids = new List<uint>();
        for (int i = 0; i < 10; i++)
            ids.Add(await g.TransactionStartAsync());
        Assert.Equal(10, ids.Distinct().Count());
        Assert.Equal("ENOSPC", (await Assert.ThrowsAsync<XenStoreException>(g.TransactionStartAsync)).ErrorName);
        Assert.True(await g.TransactionEndAsync(ids[0], false));
        ids[0] = await g.TransactionStartAsync();
    }

    [Fact]
    public async Task Permission_entries_quota_for_guests()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient dom0 = await f.Dom0Async();
        await HomeAsync(dom0, 1);
        XenStoreClient g = f.Guest(1);
        await g.WriteAsync("p", "");
        await g.SetPermsAsync("p", [new(1, XsAccess.None), new(2, XsAccess.Read), new(3, XsAccess.Read), new(4, XsAccess.Read), new(5, XsAccess.Read)]);
        Assert.Equal("ENOSPC", (await Assert.ThrowsAsync<XenStoreException>(() => g.SetPermsAsync("p",
            [new(1, XsAccess.None), new(2, XsAccess.Read), new(3, XsAccess.Read), new(4, XsAccess.Read), new(5, XsAccess.Read), new(6, XsAccess.Read)]))).ErrorName);
    }

    [Fact]
    public async Task Pipelined_requests_over_the_outstanding_quota_are_all_answered_in_order()
    {
        await using var f = DaemonFixture.Start();
        using var s = f.Daemon.ConnectDomain(1);
        var batch = new List<byte>();
        for (uint i = 1; i <= 60; i++)
            batch.AddRange(Message((uint)XsMessageType.GetDomainPath, i, 0, Bytes("1\0")));
        await s.SendAsync(batch.ToArray());
        for (uint i = 1; i <= 60; i++)
        {
            var r = (await ReadAsync(s))!.Value;
            Assert.Equal(i, r.Header.ReqId);
            Assert.Equal("/local/domain/1\0", Text(r.Payload));
        }
    }
}
