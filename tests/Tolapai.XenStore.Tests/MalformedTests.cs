using System.Net.Sockets;
using Tolapai.Xen.XenStore;
using Xunit.Abstractions;
using static Tolapai.XenStore.Tests.Wire;

namespace Tolapai.XenStore.Tests;

/// <summary>Bad input gets xenstored's error replies, or loses its own connection only.</summary>
public class MalformedTests(ITestOutputHelper output)
{
    private static async Task<string?> ErrorOf(Socket s, uint type, byte[] payload, uint tx = 0)
    {
        await s.SendAsync(Message(type, 42, tx, payload));
        var r = (await ReadAsync(s))!.Value;
        Assert.Equal(42u, r.Header.ReqId);
        return r.Header.Type == (uint)XsMessageType.Error ? Text(r.Payload).TrimEnd('\0') : null;
    }

    [Fact]
    public async Task Payload_over_4096_closes_that_connection_only()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient good = await f.Dom0Async();
        using var bad = f.Raw();
        await bad.SendAsync(Message((uint)XsMessageType.Write, 1, 0, [], len: 4097));
        Assert.Null(await ReadAsync(bad)); // dropped, as xenstored's "Client tried to feed us"
        await good.WriteAsync("/still", "alive");
        Assert.Equal("alive", await good.ReadStringAsync("/still"));

        using var max = f.Raw();
        byte[] payload = new byte[XsLimits.PayloadMax];
        Bytes("/max\0").CopyTo(payload, 0);
        Assert.Null(await ErrorOf(max, (uint)XsMessageType.Write, payload)); // exactly 4096 is fine
        Assert.Equal(4096 - 5, (await good.ReadAsync("/max")).Length);
    }

    [Theory]
    [InlineData(0u)] // XS_CONTROL: not served
    [InlineData(15u)] // WATCH_EVENT is daemon-to-client
    [InlineData(16u)] // ERROR likewise
    [InlineData(20u)] // the removed XS_RESTRICT
    [InlineData(23u)]
    [InlineData(0xFFFFu)] // XS_INVALID
    [InlineData(0xFFFFFFFFu)]
    public async Task Unknown_types_are_ENOSYS(uint type)
    {
        await using var f = DaemonFixture.Start();
        using var s = f.Raw();
        Assert.Equal("ENOSYS", await ErrorOf(s, type, Bytes("/x\0")));
        Assert.Null(await ErrorOf(s, (uint)XsMessageType.Write, Bytes("/x\0ok"))); // connection goes on
    }

    [Theory]
    [InlineData(XsMessageType.Read, "")]
    [InlineData(XsMessageType.Read, "/no-nul")]
    [InlineData(XsMessageType.Read, "/two\0/args\0")]
    [InlineData(XsMessageType.Directory, "/no-nul")]
    [InlineData(XsMessageType.Mkdir, "")]
    [InlineData(XsMessageType.Rm, "/x")]
    [InlineData(XsMessageType.Write, "/no-nul-at-all")]
    [InlineData(XsMessageType.Watch, "/only-path\0")]
    [InlineData(XsMessageType.Unwatch, "/only-path\0")]
    [InlineData(XsMessageType.GetPerms, "/x")]
    [InlineData(XsMessageType.SetPerms, "/x")]
    [InlineData(XsMessageType.TransactionEnd, "")]
    [InlineData(XsMessageType.GetDomainPath, "1")]
    [InlineData(XsMessageType.GetDomainPath, "one\0")]
    [InlineData(XsMessageType.Introduce, "1\0002\0")]
    [InlineData(XsMessageType.Release, "\0")]
    [InlineData(XsMessageType.DirectoryPart, "/x\0")]
    [InlineData(XsMessageType.DirectoryPart, "/x\0-1\0")]
    [InlineData(XsMessageType.Read, "/a//b\0")]
    [InlineData(XsMessageType.Read, "/trailing/\0")]
    [InlineData(XsMessageType.Write, "/with space\0v")]
    [InlineData(XsMessageType.Write, "/dot.ted\0v")]
    [InlineData(XsMessageType.Read, "@introduceDomain\0")]
    public async Task Missing_NULs_bad_arguments_and_bad_paths_are_EINVAL(XsMessageType type, string payload)
    {
        await using var f = DaemonFixture.Start();
        using var s = f.Raw();
        Assert.Equal("EINVAL", await ErrorOf(s, (uint)type, Bytes(payload)));
    }

    [Fact]
    public async Task Non_ASCII_and_overlong_paths_are_EINVAL()
    {
        await using var f = DaemonFixture.Start();
        using var s = f.Raw();
        Assert.Equal("EINVAL", await ErrorOf(s, (uint)XsMessageType.Write, [.. Bytes("/caf"), 0xC3, 0xA9, 0, (byte)'v']));
        Assert.Equal("EINVAL", await ErrorOf(s, (uint)XsMessageType.Read, [(byte)'/', 0x80, 0]));
        Assert.Equal("EINVAL", await ErrorOf(s, (uint)XsMessageType.Write, Bytes("/" + new string('a', 3072) + "\0v")));
        Assert.Equal("EINVAL", await ErrorOf(s, (uint)XsMessageType.Write, Bytes("/local/domain/3/" + new string('a', 2049) + "\0v")));
        Assert.Null(await ErrorOf(s, (uint)XsMessageType.Write, Bytes("/local/domain/3/" + new string('a', 2048) + "\0v")));
    }

    [Fact]
    public async Task Bad_transaction_ids_are_ENOENT_and_ignored_where_xenstored_ignores_them()
    {
        await using var f = DaemonFixture.Start();
        using var s = f.Raw();
        Assert.Equal("ENOENT", await ErrorOf(s, (uint)XsMessageType.Write, Bytes("/x\0v"), tx: 7));
        Assert.Equal("ENOENT", await ErrorOf(s, (uint)XsMessageType.Directory, Bytes("/\0"), tx: 0xFFFFFFFF));
        Assert.Null(await ErrorOf(s, (uint)XsMessageType.Watch, Bytes("/x\0t\0"), tx: 7)); // WATCH ignores tx_id
        var ev = (await ReadAsync(s))!.Value;
        Assert.Equal((uint)XsMessageType.WatchEvent, ev.Header.Type);
    }

    [Fact]
    public async Task Relative_paths_from_dom0_resolve_under_local_domain_0_as_xenstored_does()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        await c.WriteAsync("rel/key", "v");
        Assert.Equal("v", await c.ReadStringAsync("/local/domain/0/rel/key"));
    }

    [Fact]
    public async Task Truncated_and_random_garbage_never_hurt_other_clients()
    {
        int seed = Seeds.Next();
        output.WriteLine($"seed {seed} (TOLAPAI_SEED={seed} replays it)");
        var rng = new Random(seed);
        await using var f = DaemonFixture.Start();
        XenStoreClient good = await f.Dom0Async();
        XenStoreClient guest = f.Guest(3);
        for (int round = 0; round < 40; round++)
        {
            using Socket bad = round % 2 == 0 ? f.Raw() : f.Daemon.ConnectDomain(7);
            byte[] junk = new byte[rng.Next(1, 9000)];
            rng.NextBytes(junk);
            if (rng.Next(3) == 0 && junk.Length >= 16)
            {
                // A plausible header with a random type and short length, then junk.
                Message((uint)rng.Next(0, 30), 1, (uint)rng.Next(0, 3), [], len: (uint)rng.Next(0, 200)).CopyTo(junk, 0);
            }
            try
            {
                await bad.SendAsync(junk);
            }
            catch (SocketException)
            {
                // The daemon may already have dropped it: that is allowed.
            }
            bad.Shutdown(SocketShutdown.Send);
            await good.WriteAsync($"/fuzz/{round}", "ok");
            Assert.Equal("ok", await good.ReadStringAsync($"/fuzz/{round}"));
            Assert.Equal("/local/domain/3", await guest.GetDomainPathAsync(3));
        }
    }

    [Fact]
    public async Task A_client_that_never_reads_its_watch_events_is_dropped_alone()
    {
        await using var f = DaemonFixture.Start(new XenStoreOptions { MaxQueuedWatchEvents = 16 });
        XenStoreClient writer = await f.Dom0Async();
        using var deaf = f.Raw();
        deaf.ReceiveBufferSize = 4096;
        Assert.Null(await ErrorOf(deaf, (uint)XsMessageType.Watch, Bytes("/\0t\0")));
        string path = "/" + new string('p', 2000);
        int connections = f.Daemon.ConnectionCount;
        int writes = 0;
        // Each event is ~2 kB; the socket buffers fill, then the queue, then the daemon drops the client.
        while (f.Daemon.ConnectionCount == connections && writes < 5000)
        {
            await writer.WriteAsync(path, "x");
            writes++;
        }
        Assert.True(f.Daemon.ConnectionCount < connections, $"still connected after {writes} events");
        Assert.Equal("x", await writer.ReadStringAsync(path));
    }
}
