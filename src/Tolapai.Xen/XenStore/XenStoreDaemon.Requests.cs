using System.Globalization;
using System.Text;

namespace Tolapai.Xen.XenStore;

/// <summary>Request dispatch, as xenstored's process_message and wire_funcs.</summary>
public sealed partial class XenStoreDaemon
{
    private static readonly byte[] Ok = "OK\0"u8.ToArray();

    /// <summary>Handles one complete request from <paramref name="conn"/> and queues its reply (and any watch events).</summary>
    internal void Process(XsConnection conn, XsHeader header, ReadOnlySpan<byte> payload)
    {
        lock (_gate)
        {
            if (conn.IsClosed)
                return;
            string? error = Dispatch(conn, header, payload, out byte[]? reply, out Action? after);
            var type = (XsMessageType)header.Type;
            if (error is not null)
                conn.Enqueue(Message(XsMessageType.Error, header.ReqId, header.TxId, Encoding.ASCII.GetBytes(error + "\0")), isReply: true);
            else
                conn.Enqueue(Message(type, header.ReqId, header.TxId, reply ?? Ok), isReply: true);
            after?.Invoke();
        }
    }

    private static bool IsPrivilegedOnly(XsMessageType t) =>
        t is XsMessageType.Control or XsMessageType.Introduce or XsMessageType.Release or XsMessageType.IsDomainIntroduced
            or XsMessageType.Resume or XsMessageType.SetTarget;

    private static bool IgnoresTransaction(XsMessageType t) =>
        t is XsMessageType.Control or XsMessageType.Watch or XsMessageType.Unwatch or XsMessageType.Introduce
            or XsMessageType.Release or XsMessageType.IsDomainIntroduced or XsMessageType.Resume or XsMessageType.SetTarget;

    private string? Dispatch(XsConnection conn, XsHeader header, ReadOnlySpan<byte> payload, out byte[]? reply, out Action? after)
    {
        reply = null;
        after = null;
        var type = (XsMessageType)header.Type;
        if (header.Type >= XsLimits.TypeCount || type is XsMessageType.WatchEvent or XsMessageType.Error || header.Type == 20)
            return XsErrors.ENOSYS; // xenstored: "Client unknown operation"
        if (IsPrivilegedOnly(type) && !conn.Privileged)
            return XsErrors.EACCES;
        XsTransaction? tx = null;
        if (!IgnoresTransaction(type) && header.TxId != 0 && !conn.Transactions.TryGetValue(header.TxId, out tx))
            return XsErrors.ENOENT;
        IXsView view = tx is null ? _tree : tx;
        var caller = new XsCaller(conn.DomId, conn.Privileged, conn.Target);
        List<XsChange> changes = tx?.Changes ?? [];
        string? error = type switch
        {
            XsMessageType.Control => XsErrors.ENOSYS,
            XsMessageType.Read => DoRead(view, caller, payload, out reply),
            XsMessageType.Write => DoWrite(view, caller, payload, changes),
            XsMessageType.Mkdir => DoMkdir(view, caller, payload, changes),
            XsMessageType.Rm => DoRm(view, caller, payload, changes),
            XsMessageType.Directory => DoDirectory(view, caller, payload, out reply),
            XsMessageType.DirectoryPart => DoDirectoryPart(view, caller, payload, out reply),
            XsMessageType.GetPerms => DoGetPerms(view, caller, payload, out reply),
            XsMessageType.SetPerms => DoSetPerms(view, caller, payload, changes),
            XsMessageType.Watch => DoWatch(conn, payload, out after),
            XsMessageType.Unwatch => DoUnwatch(conn, payload),
            XsMessageType.TransactionStart => DoTransactionStart(conn, tx, out reply),
            XsMessageType.TransactionEnd => DoTransactionEnd(conn, tx, payload, out changes),
            XsMessageType.Introduce => DoIntroduce(payload, out after),
            XsMessageType.Release => DoRelease(payload, out after),
            XsMessageType.GetDomainPath => DoGetDomainPath(payload, out reply),
            XsMessageType.IsDomainIntroduced => DoIsDomainIntroduced(payload, out reply),
            XsMessageType.Resume => DoResume(payload),
            XsMessageType.SetTarget => DoSetTarget(payload),
            XsMessageType.ResetWatches => DoResetWatches(conn),
            _ => XsErrors.ENOSYS,
        };
        if (error is null && (tx is null || type == XsMessageType.TransactionEnd) && changes.Count > 0)
        {
            // Outside a transaction (or at its commit) watches fire after the reply is queued.
            List<XsChange> fired = changes;
            Action? first = after;
            after = () =>
            {
                first?.Invoke();
                foreach (XsChange c in fired)
                    Fire(c);
            };
        }
        return error;
    }

    // ---- arguments ----------------------------------------------------------------------

    /// <summary>The NUL-terminated strings at the start of a payload (bytes after the last NUL are not a string).</summary>
    private static List<string> Strings(ReadOnlySpan<byte> payload)
    {
        var list = new List<string>();
        int start = 0;
        for (int i = 0; i < payload.Length; i++)
        {
            if (payload[i] == 0)
            {
                list.Add(Encoding.Latin1.GetString(payload[start..i]));
                start = i + 1;
            }
        }
        return list;
    }

    /// <summary>xenstored's onearg: exactly one string, NUL-terminated at the end of the payload.</summary>
    private static string? OneArg(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 0 || payload.IndexOf((byte)0) != payload.Length - 1)
            return null;
        return Encoding.Latin1.GetString(payload[..^1]);
    }

    private static bool TryDomId(string? text, out uint domid)
    {
        domid = 0;
        return text is { Length: > 0 and <= 5 } && text.All(char.IsAsciiDigit)
            && uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out domid) && domid < XsLimits.DomIdFirstReserved;
    }

    private static string? NodePath(string? raw, XsCaller caller, bool allowSpecial, out string path)
    {
        path = raw is null ? "" : XsPath.Canonicalize(raw, caller.DomId);
        return raw is null || !XsPath.IsValid(path, allowSpecial) ? XsErrors.EINVAL : null;
    }

    private static byte[] Message(XsMessageType type, uint reqId, uint txId, ReadOnlySpan<byte> body)
    {
        byte[] m = new byte[XsHeader.Size + body.Length];
        new XsHeader(type, reqId, txId, (uint)body.Length).Write(m);
        body.CopyTo(m.AsSpan(XsHeader.Size));
        return m;
    }

    private static byte[] Strings0(IEnumerable<string> items)
    {
        var sb = new StringBuilder();
        foreach (string s in items)
            sb.Append(s).Append('\0');
        return Encoding.Latin1.GetBytes(sb.ToString());
    }
}

/// <summary>Who asks: domain, privilege, and the domain it is device model for.</summary>
internal readonly record struct XsCaller(uint DomId, bool Privileged, uint? Target);
