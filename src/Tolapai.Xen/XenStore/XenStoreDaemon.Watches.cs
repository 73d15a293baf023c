using System.Text;
using Tolapai.Xen.Hypervisor;

namespace Tolapai.Xen.XenStore;

/// <summary>Watches, transactions and domains.</summary>
public sealed partial class XenStoreDaemon
{
    /// <summary>Special watch path fired when a domain is introduced.</summary>
    public const string IntroduceDomainPath = "@introduceDomain";

    /// <summary>Special watch path fired when a domain is released.</summary>
    public const string ReleaseDomainPath = "@releaseDomain";

    private static XsChange Special(string path, XsTree tree) => new(path, tree.Get(path)!.Perms, false);

    /// <summary>
    /// Queues a watch event on every watch at or above the changed node — and, for a removed
    /// subtree, on watches below it — for connections that may read the node.
    /// </summary>
    private void Fire(XsChange change)
    {
        // A snapshot: queueing an event may drop a client that does not read them.
        foreach (XsConnection conn in _connections.ToArray())
        {
            bool mayRead = conn.Privileged
                || (XsPermission.For(change.Perms, conn.DomId, false, conn.Target, out _) & XsAccess.Read) != 0;
            if (!mayRead)
                continue;
            foreach (XsWatch w in conn.Watches.ToArray())
            {
                string? eventPath = XsPath.IsAtOrBelow(change.Path, w.Path) ? change.Path
                    : change.Removed && XsPath.IsAtOrBelow(w.Path, change.Path) ? w.Path
                    : null;
                if (eventPath is not null)
                    QueueEvent(conn, w, eventPath);
            }
        }
    }

    private static void QueueEvent(XsConnection conn, XsWatch w, string absolutePath)
    {
        string path = absolutePath;
        if (w.Relative)
        {
            string home = XsPath.DomainPath(conn.DomId) + "/";
            if (path.StartsWith(home, StringComparison.Ordinal))
                path = path[home.Length..];
        }
        conn.Enqueue(Message(XsMessageType.WatchEvent, 0, 0, Encoding.Latin1.GetBytes(path + "\0" + w.Token + "\0")), isReply: false);
    }

    private int DomainWatches(uint domid) => _connections.Where(c => c.DomId == domid).Sum(c => c.Watches.Count);

    private int DomainTransactions(uint domid) => _connections.Where(c => c.DomId == domid).Sum(c => c.Transactions.Count);

    private string? DoWatch(XsConnection conn, ReadOnlySpan<byte> payload, out Action? after)
    {
        after = null;
        List<string> args = Strings(payload);
        if (args.Count < 2)
            return XsErrors.EINVAL;
        var caller = new XsCaller(conn.DomId, conn.Privileged, conn.Target);
        if (NodePath(args[0], caller, true, out string path) is string bad)
            return bad;
        string token = args[1];
        if (conn.Watches.Any(w => w.Path == path && w.Token == token))
            return XsErrors.EEXIST;
        if (!conn.Privileged && DomainWatches(conn.DomId) >= Options.WatchesPerDomain)
            return XsErrors.E2BIG;
        var watch = new XsWatch(path, token, args[0][0] != '/' && args[0][0] != '@');
        conn.Watches.Add(watch);
        // "We fire once up front: simplifies clients and restart." — after the OK reply.
        after = () => QueueEvent(conn, watch, path);
        return null;
    }

    private static string? DoUnwatch(XsConnection conn, ReadOnlySpan<byte> payload)
    {
        List<string> args = Strings(payload);
        if (args.Count < 2)
            return XsErrors.EINVAL;
        var caller = new XsCaller(conn.DomId, conn.Privileged, conn.Target);
        if (NodePath(args[0], caller, true, out string path) is string bad)
            return bad;
        int i = conn.Watches.FindIndex(w => w.Path == path && w.Token == args[1]);
        if (i < 0)
            return XsErrors.ENOENT;
        conn.Watches.RemoveAt(i);
        return null;
    }

    private string? DoTransactionStart(XsConnection conn, XsTransaction? current, out byte[]? reply)
    {
        reply = null;
        if (current is not null)
            return XsErrors.EBUSY; // no nested transactions
        if (!conn.Privileged && DomainTransactions(conn.DomId) >= Options.TransactionsPerDomain)
            return XsErrors.ENOSPC;
        uint id;
        do
            id = ++_nextTransactionId;
        while (id == 0 || _connections.Any(c => c.Transactions.ContainsKey(id)));
        conn.Transactions[id] = new XsTransaction(id, _tree);
        reply = Encoding.ASCII.GetBytes(FormatId(id) + "\0");
        return null;
    }

    private string? DoTransactionEnd(XsConnection conn, XsTransaction? tx, ReadOnlySpan<byte> payload, out List<XsChange> changes)
    {
        changes = [];
        string? arg = OneArg(payload);
        if (arg is not ("T" or "F"))
            return XsErrors.EINVAL;
        if (tx is null)
            return XsErrors.ENOENT;
        conn.Transactions.Remove(tx.Id);
        if (arg == "F")
            return null;
        if (!tx.TryCommit())
            return XsErrors.EAGAIN;
        changes = tx.Changes;
        return null;
    }

    private string? DoIntroduce(ReadOnlySpan<byte> payload, out Action? after)
    {
        after = null;
        List<string> args = Strings(payload);
        if (args.Count < 3 || !TryDomId(args[0], out uint domid)
            || !ulong.TryParse(args[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong gfn)
            || !uint.TryParse(args[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint port))
            return XsErrors.EINVAL;
        if (_domains.ContainsKey(domid))
            return null; // already introduced: nothing fires again
        var domain = new XsDomain(domid, gfn, port);
        if (Host is not null && AttachRing(domain) is string failed)
            return failed;
        _domains[domid] = domain;
        after = () => Fire(Special(IntroduceDomainPath, _tree));
        return null;
    }

    private string? DoRelease(ReadOnlySpan<byte> payload, out Action? after)
    {
        after = null;
        if (!TryDomId(OneArg(payload), out uint domid))
            return XsErrors.EINVAL;
        if (!_domains.Remove(domid, out XsDomain? gone))
            return XsErrors.ENOENT;
        after = () =>
        {
            // Stopping the ring joins its thread, so it runs on its own; the daemon tracks it like
            // a connection, so DisposeAsync waits for it before the host's memory can go away.
            Task detach = Task.Run(gone.DetachRing);
            lock (_gate)
            {
                _running.RemoveAll(t => t.IsCompleted);
                _running.Add(detach);
            }

            // The domain's channels go with it, then @releaseDomain fires for whoever watches.
            foreach (XsConnection c in _connections.Where(c => c.DomId == domid).ToArray())
                c.Close("domain released");
            Fire(Special(ReleaseDomainPath, _tree));
        };
        return null;
    }

    /// <summary>
    /// Serves the guest's xenstore page (frame <see cref="XsDomain.Gfn"/> of its memory) on an
    /// event channel bound to the port the toolstack allocated: the ring's connection speaks as
    /// that domain, whatever it writes.
    /// </summary>
    private unsafe string? AttachRing(XsDomain domain)
    {
        ushort domid = (ushort)domain.DomId;
        Memory.GuestMemory? memory = Host!.MapGuestMemory(domid);
        if (memory is null || domain.Gfn < memory.FirstDataFrame || !memory.IsValidFrame((uint)Math.Min(domain.Gfn, uint.MaxValue)))
            return XsErrors.EINVAL;
        if (Host.BindInterdomain(0, domid, domain.Port, out uint local) != XenError.Ok)
            return XsErrors.EINVAL;
        domain.Host = Host;
        domain.LocalPort = local;
        byte* page = memory.Base + ((long)domain.Gfn << Memory.GuestMemory.PageShift);
        domain.Ring = new XsRingPump(page, Host.OpenPort(0, local), ConnectDomain(domain.DomId), server: true);
        return null;
    }

    private static string? DoGetDomainPath(ReadOnlySpan<byte> payload, out byte[]? reply)
    {
        reply = null;
        if (!TryDomId(OneArg(payload), out uint domid))
            return XsErrors.EINVAL;
        reply = Encoding.ASCII.GetBytes(XsPath.DomainPath(domid) + "\0");
        return null;
    }

    private string? DoIsDomainIntroduced(ReadOnlySpan<byte> payload, out byte[]? reply)
    {
        reply = null;
        if (!TryDomId(OneArg(payload), out uint domid))
            return XsErrors.EINVAL;
        reply = domid == 0 || _domains.ContainsKey(domid) ? "T\0"u8.ToArray() : "F\0"u8.ToArray();
        return null;
    }

    private string? DoResume(ReadOnlySpan<byte> payload)
    {
        if (!TryDomId(OneArg(payload), out uint domid))
            return XsErrors.EINVAL;
        return _domains.ContainsKey(domid) ? null : XsErrors.ENOENT;
    }

    private string? DoSetTarget(ReadOnlySpan<byte> payload)
    {
        List<string> args = Strings(payload);
        if (args.Count < 2 || !TryDomId(args[0], out uint domid) || !TryDomId(args[1], out uint target))
            return XsErrors.EINVAL;
        if (!_domains.TryGetValue(domid, out XsDomain? d) || !_domains.ContainsKey(target))
            return XsErrors.ENOENT;
        d.Target = target;
        foreach (XsConnection c in _connections.Where(c => c.DomId == domid))
            c.Target = target;
        return null;
    }

    private static string? DoResetWatches(XsConnection conn)
    {
        conn.Watches.Clear();
        conn.Transactions.Clear();
        return null;
    }
}
