using System.Text;
using Tolapai.Xen.XenStore;
using static Tolapai.XenStore.Tests.Wire;

namespace Tolapai.XenStore.Tests;

/// <summary>Every message type against the daemon on its Unix socket, as dom0.</summary>
public class ProtocolTests
{
    [Fact]
    public async Task Write_read_directory_mkdir_rm()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        Assert.Equal(["tool"], await c.DirectoryAsync("/"));
        await c.WriteAsync("/a/b/c", "hello");
        Assert.Equal("hello", await c.ReadStringAsync("/a/b/c"));
        Assert.Empty(await c.ReadAsync("/a/b")); // created parents are empty
        Assert.Equal(["tool", "a"], await c.DirectoryAsync("/"));
        await c.WriteAsync("/a/b/d", new byte[] { 0, 255, 1 }); // values are bytes, NULs included
        Assert.Equal(new byte[] { 0, 255, 1 }, await c.ReadAsync("/a/b/d"));
        Assert.Equal(["c", "d"], await c.DirectoryAsync("/a/b"));
        await c.MkdirAsync("/a/e");
        await c.MkdirAsync("/a/e"); // exists: fine
        Assert.Empty(await c.DirectoryAsync("/a/e"));
        await c.RmAsync("/a/b");
        Assert.Equal("ENOENT", (await Assert.ThrowsAsync<XenStoreException>(() => c.ReadAsync("/a/b/c"))).ErrorName);
        await c.RmAsync("/a/b"); // gone but parent exists: OK, as xenstored
        Assert.Equal("ENOENT", (await Assert.ThrowsAsync<XenStoreException>(() => c.RmAsync("/nope/x"))).ErrorName);
        Assert.Equal("EINVAL", (await Assert.ThrowsAsync<XenStoreException>(() => c.RmAsync("/"))).ErrorName);
        Assert.Equal(["e"], await c.DirectoryAsync("/a"));
    }

    [Fact]
    public async Task Replies_echo_type_req_id_and_tx_id_and_acks_are_OK()
    {
        await using var f = DaemonFixture.Start();
        using var s = f.Raw();
        await s.SendAsync(Message((uint)XsMessageType.Write, 77, 0, Bytes("/x\0v")));
        var r = (await ReadAsync(s))!.Value;
        Assert.Equal(new XsHeader(XsMessageType.Write, 77, 0, 3), r.Header);
        Assert.Equal("OK\0", Text(r.Payload));

        await s.SendAsync(Message((uint)XsMessageType.TransactionStart, 78, 0, Bytes("\0")));
        r = (await ReadAsync(s))!.Value;
        uint tx = uint.Parse(Text(r.Payload).TrimEnd('\0'), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal((uint)XsMessageType.TransactionStart, r.Header.Type);
        Assert.EndsWith("\0", Text(r.Payload), StringComparison.Ordinal);

        await s.SendAsync(Message((uint)XsMessageType.Read, 0xDEADBEEF, tx, Bytes("/x\0")));
        r = (await ReadAsync(s))!.Value;
        Assert.Equal(new XsHeader(XsMessageType.Read, 0xDEADBEEF, tx, 1), r.Header);
        Assert.Equal("v", Text(r.Payload)); // READ's value has no NUL

        await s.SendAsync(Message((uint)XsMessageType.Read, 5, 0, Bytes("/missing\0")));
        r = (await ReadAsync(s))!.Value;
        Assert.Equal(new XsHeader(XsMessageType.Error, 5, 0, 7), r.Header);
        Assert.Equal("ENOENT\0", Text(r.Payload));
    }

    [Fact]
    public async Task Get_and_set_perms_use_xen_strings()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        await c.WriteAsync("/p", "1");
        XsReply r = await c.SendAsync(XsMessageType.GetPerms, Bytes("/p\0"));
        Assert.Equal("n0\0", Text(r.Payload)); // inherited from "/"
        await c.SetPermsAsync("/p", [new(5, XsAccess.None), new(1, XsAccess.Read), new(2, XsAccess.Both), new(3, XsAccess.Write)]);
        r = await c.SendAsync(XsMessageType.GetPerms, Bytes("/p\0"));
        Assert.Equal("n5\0r1\0b2\0w3\0", Text(r.Payload));
        await c.WriteAsync("/p/child", "x"); // dom0 creating: inherits owner 5
        Assert.Equal([new(5, XsAccess.None), new(1, XsAccess.Read), new(2, XsAccess.Both), new(3, XsAccess.Write)], await c.GetPermsAsync("/p/child"));
        foreach (string bad in new[] { "x1", "r", "r-1", "r32752", "r1a", "" })
        {
            r = await c.SendAsync(XsMessageType.SetPerms, Bytes("/p\0" + bad + "\0"));
            Assert.Equal("EINVAL", r.ErrorName);
        }
        Assert.Equal("EINVAL", (await c.SendAsync(XsMessageType.SetPerms, Bytes("/p\0"))).ErrorName);
        Assert.Equal("ENOENT", (await c.SendAsync(XsMessageType.SetPerms, Bytes("/nope\0b0\0"))).ErrorName);
        Assert.Equal("n0\0", Text((await c.SendAsync(XsMessageType.GetPerms, Bytes("@introduceDomain\0"))).Payload));
    }

    [Fact]
    public async Task Watch_fires_once_when_set_then_for_every_change_at_or_below()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        XenStoreClient other = await f.Dom0Async();
        await c.WatchAsync("/w", "tok");
        Assert.Equal(new XsWatchEvent("/w", "tok"), await NextEventAsync(c)); // fires at set, node need not exist
        await other.WriteAsync("/w", "1");
        Assert.Equal(new XsWatchEvent("/w", "tok"), await NextEventAsync(c));
        await other.WriteAsync("/w/a/b", "2");
        Assert.Equal(new XsWatchEvent("/w/a/b", "tok"), await NextEventAsync(c));
        await other.WriteAsync("/wx", "not below /w");
        await other.MkdirAsync("/w/a"); // exists: no change, no event
        await other.SetPermsAsync("/w/a", [new(0, XsAccess.Read)]);
        Assert.Equal(new XsWatchEvent("/w/a", "tok"), await NextEventAsync(c));
        await c.WatchAsync("/w/a/b", "deep");
        Assert.Equal(new XsWatchEvent("/w/a/b", "deep"), await NextEventAsync(c));
        await other.RmAsync("/w/a"); // a removed subtree fires the watch on it and those below it
        var got = new HashSet<XsWatchEvent> { await NextEventAsync(c), await NextEventAsync(c) };
        Assert.Equal(new HashSet<XsWatchEvent> { new("/w/a", "tok"), new("/w/a/b", "deep") }, got);
        Assert.Equal("EEXIST", (await Assert.ThrowsAsync<XenStoreException>(() => c.WatchAsync("/w", "tok"))).ErrorName);
        await c.UnwatchAsync("/w", "tok");
        await c.UnwatchAsync("/w/a/b", "deep");
        Assert.Equal("ENOENT", (await Assert.ThrowsAsync<XenStoreException>(() => c.UnwatchAsync("/w", "tok"))).ErrorName);
        await c.WatchAsync("/z", "z");
        Assert.Equal(new XsWatchEvent("/z", "z"), await NextEventAsync(c));
        await other.WriteAsync("/w", "after unwatch");
        await other.WriteAsync("/z", "sentinel");
        Assert.Equal(new XsWatchEvent("/z", "z"), await NextEventAsync(c)); // nothing from /w came before it
    }

    [Fact]
    public async Task Watch_event_comes_after_the_watch_reply_on_the_wire()
    {
        await using var f = DaemonFixture.Start();
        using var s = f.Raw();
        await s.SendAsync(Message((uint)XsMessageType.Watch, 9, 0, Bytes("/q\0t\0")));
        var first = (await ReadAsync(s))!.Value;
        var second = (await ReadAsync(s))!.Value;
        Assert.Equal(new XsHeader(XsMessageType.Watch, 9, 0, 3), first.Header);
        Assert.Equal(new XsHeader(XsMessageType.WatchEvent, 0, 0, 5), second.Header);
        Assert.Equal("/q\0t\0", Text(second.Payload));
    }

    [Fact]
    public async Task Transactions_commit_abort_isolate_and_conflict_with_EAGAIN()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        XenStoreClient d = await f.Dom0Async();
        await c.WriteAsync("/t/x", "0");
        await d.WatchAsync("/t", "w");
        await NextEventAsync(d);

        uint tx = await c.TransactionStartAsync();
        Assert.NotEqual(0u, tx);
        await c.WriteAsync("/t/x", "1", tx);
        await c.WriteAsync("/t/new", "n", tx);
        Assert.Equal("1", await c.ReadStringAsync("/t/x", tx));
        Assert.Equal("0", await c.ReadStringAsync("/t/x")); // not visible outside before commit
        Assert.False(await c.ExistsAsync("/t/new"));
        Assert.Equal(["x", "new"], await c.DirectoryAsync("/t", tx));
        Assert.True(await c.TransactionEndAsync(tx, commit: true));
        Assert.Equal("1", await c.ReadStringAsync("/t/x"));
        Assert.Equal("n", await c.ReadStringAsync("/t/new"));
        var events = new HashSet<XsWatchEvent> { await NextEventAsync(d), await NextEventAsync(d) };
        Assert.Equal(new HashSet<XsWatchEvent> { new("/t/x", "w"), new("/t/new", "w") }, events); // fired at commit

        tx = await c.TransactionStartAsync();
        await c.WriteAsync("/t/x", "aborted", tx);
        Assert.True(await c.TransactionEndAsync(tx, commit: false));
        Assert.Equal("1", await c.ReadStringAsync("/t/x"));

        tx = await c.TransactionStartAsync();
        Assert.Equal("1", await c.ReadStringAsync("/t/x", tx));
        await d.WriteAsync("/t/x", "someone else");
        await c.WriteAsync("/t/x", "mine", tx);
        Assert.False(await c.TransactionEndAsync(tx, commit: true)); // EAGAIN
        Assert.Equal("someone else", await c.ReadStringAsync("/t/x"));

        // The transaction is gone after its end, whatever the outcome.
        Assert.Equal("ENOENT", (await c.SendAsync(XsMessageType.TransactionEnd, Bytes("T\0"), tx)).ErrorName);
        Assert.Equal("ENOENT", (await c.SendAsync(XsMessageType.Read, Bytes("/t/x\0"), 12345)).ErrorName);
        Assert.Equal("ENOENT", (await c.SendAsync(XsMessageType.TransactionEnd, Bytes("T\0"), 0)).ErrorName);
        tx = await c.TransactionStartAsync();
        Assert.Equal("EBUSY", (await c.SendAsync(XsMessageType.TransactionStart, Bytes("\0"), tx)).ErrorName);
        Assert.Equal("EINVAL", (await c.SendAsync(XsMessageType.TransactionEnd, Bytes("X\0"), tx)).ErrorName);
        Assert.Equal("ENOENT", (await d.SendAsync(XsMessageType.Read, Bytes("/t/x\0"), tx)).ErrorName); // another connection's id
        Assert.True(await c.TransactionEndAsync(tx, commit: true));
    }

    [Fact]
    public async Task Conflicting_creations_in_two_transactions_one_wins()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        XenStoreClient d = await f.Dom0Async();
        uint t1 = await c.TransactionStartAsync();
        uint t2 = await d.TransactionStartAsync();
        await c.WriteAsync("/k/a", "1", t1);
        await d.WriteAsync("/k/b", "2", t2);
        Assert.True(await c.TransactionEndAsync(t1, true));
        Assert.False(await d.TransactionEndAsync(t2, true)); // both changed /k's children
        Assert.Equal(["a"], await c.DirectoryAsync("/k"));
    }

    [Fact]
    public async Task Domains_introduce_release_path_resume_target_and_special_watches()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        await c.WatchAsync(XenStoreDaemon.IntroduceDomainPath, "i");
        await c.WatchAsync(XenStoreDaemon.ReleaseDomainPath, "r");
        Assert.Equal(new XsWatchEvent("@introduceDomain", "i"), await NextEventAsync(c));
        Assert.Equal(new XsWatchEvent("@releaseDomain", "r"), await NextEventAsync(c));
        Assert.Equal("/local/domain/3", await c.GetDomainPathAsync(3));
        Assert.False(await c.IsDomainIntroducedAsync(3));
        Assert.True(await c.IsDomainIntroducedAsync(0));
        Assert.Equal("ENOENT", (await c.SendAsync(XsMessageType.Resume, Bytes("3\0"))).ErrorName);
        await c.IntroduceAsync(3, 1234, 5);
        Assert.Equal(new XsWatchEvent("@introduceDomain", "i"), await NextEventAsync(c));
        Assert.True(await c.IsDomainIntroducedAsync(3));
        Assert.True(f.Daemon.IsIntroduced(3));
        Assert.False((await c.SendAsync(XsMessageType.Resume, Bytes("3\0"))).IsError);
        Assert.Equal("ENOENT", (await c.SendAsync(XsMessageType.SetTarget, Bytes("3\0004\0"))).ErrorName);
        await c.IntroduceAsync(4, 99, 6);
        Assert.Equal(new XsWatchEvent("@introduceDomain", "i"), await NextEventAsync(c));
        Assert.False((await c.SendAsync(XsMessageType.SetTarget, Bytes("3\0004\0"))).IsError);
        Assert.Equal("EINVAL", (await c.SendAsync(XsMessageType.Introduce, Bytes("x\0001\0002\0"))).ErrorName);
        Assert.Equal("EINVAL", (await c.SendAsync(XsMessageType.GetDomainPath, Bytes("32752\0"))).ErrorName);
        Assert.Equal("EINVAL", (await c.SendAsync(XsMessageType.IsDomainIntroduced, Bytes("\0"))).ErrorName);

        XenStoreClient guest = f.Guest(3);
        Assert.Equal("/local/domain/3", await guest.GetDomainPathAsync(3)); // not privileged-only
        await c.ReleaseAsync(3);
        Assert.Equal(new XsWatchEvent("@releaseDomain", "r"), await NextEventAsync(c));
        Assert.False(await c.IsDomainIntroducedAsync(3));
        await Assert.ThrowsAsync<XenStoreException>(() => guest.ReadAsync("/local")); // its channel went with it
        Assert.Equal("ENOENT", (await c.SendAsync(XsMessageType.Release, Bytes("3\0"))).ErrorName);
    }

    [Fact]
    public async Task Reset_watches_drops_watches_and_transactions()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        await c.WatchAsync("/r", "t");
        await NextEventAsync(c);
        uint tx = await c.TransactionStartAsync();
        Assert.False((await c.SendAsync(XsMessageType.ResetWatches, Bytes("\0"))).IsError);
        Assert.Equal("ENOENT", (await c.SendAsync(XsMessageType.TransactionEnd, Bytes("T\0"), tx)).ErrorName);
        Assert.Equal("ENOENT", (await Assert.ThrowsAsync<XenStoreException>(() => c.UnwatchAsync("/r", "t"))).ErrorName);
        await c.WatchAsync("/r2", "s");
        Assert.Equal(new XsWatchEvent("/r2", "s"), await NextEventAsync(c));
    }

    [Fact]
    public async Task Large_directory_is_E2BIG_and_comes_whole_through_DIRECTORY_PART()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        var names = Enumerable.Range(0, 200).Select(i => $"child-with-a-long-name-{i:D4}").ToList();
        foreach (string n in names)
            await c.MkdirAsync("/big/" + n);
        Assert.Equal("E2BIG", (await c.SendAsync(XsMessageType.Directory, Bytes("/big\0"))).ErrorName);

        var got = new List<string>();
        string? generation = null;
        int offset = 0;
        while (true)
        {
            XsReply r = await c.SendAsync(XsMessageType.DirectoryPart, Bytes($"/big\0{offset}\0"));
            Assert.False(r.IsError, r.ErrorName);
            Assert.True(r.Payload.Length <= XsLimits.PayloadMax);
            int genEnd = Array.IndexOf(r.Payload, (byte)0);
            string gen = Encoding.ASCII.GetString(r.Payload, 0, genEnd);
            generation ??= gen;
            Assert.Equal(generation, gen);
            byte[] rest = r.Payload[(genEnd + 1)..];
            bool last = rest.Length == 0 || (rest.Length >= 1 && rest[^1] == 0 && (rest.Length == 1 || rest[^2] == 0));
            string chunk = Encoding.ASCII.GetString(rest);
            got.AddRange(chunk.Split('\0', StringSplitOptions.RemoveEmptyEntries));
            offset += last ? rest.Length - 1 : rest.Length;
            if (last)
                break;
        }
        Assert.Equal(names, got);
        Assert.Equal("EINVAL", (await c.SendAsync(XsMessageType.DirectoryPart, Bytes("/big\0999999\0"))).ErrorName);
        Assert.Equal("EINVAL", (await c.SendAsync(XsMessageType.DirectoryPart, Bytes("/big\0"))).ErrorName);
    }
}
