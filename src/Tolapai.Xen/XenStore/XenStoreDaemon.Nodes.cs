using System.Globalization;
using System.Text;

namespace Tolapai.Xen.XenStore;

/// <summary>Node requests: READ, WRITE, MKDIR, RM, DIRECTORY(_PART), GET/SET_PERMS.</summary>
public sealed partial class XenStoreDaemon
{
    /// <summary>
    /// xenstored's get_node: the node if the caller has <paramref name="need"/> on it. A missing
    /// node is ENOENT, or EACCES when the nearest existing ancestor is not readable (existence
    /// is not leaked).
    /// </summary>
    private static XsNode? Lookup(IXsView view, XsCaller caller, string path, XsAccess need, out string? error, bool needOwner = false)
    {
        XsNode? node = view.Get(path);
        if (node is null)
        {
            string p = path;
            XsNode? ancestor = null;
            while (ancestor is null && p != "/" && p[0] == '/')
            {
                p = XsPath.Parent(p);
                ancestor = view.Get(p);
            }
            error = ancestor is not null && (Access(ancestor, caller, out _) & XsAccess.Read) == 0 ? XsErrors.EACCES : XsErrors.ENOENT;
            return null;
        }
        XsAccess have = Access(node, caller, out bool owner);
        if ((have & need) != need || (needOwner && !owner))
        {
            error = XsErrors.EACCES;
            return null;
        }
        error = null;
        return node;
    }

    private static XsAccess Access(XsNode node, XsCaller caller, out bool owner) =>
        XsPermission.For(node.Perms, caller.DomId, caller.Privileged, caller.Target, out owner);

    private string? DoRead(IXsView view, XsCaller caller, ReadOnlySpan<byte> payload, out byte[]? reply)
    {
        reply = null;
        if (NodePath(OneArg(payload), caller, false, out string path) is string bad)
            return bad;
        XsNode? node = Lookup(view, caller, path, XsAccess.Read, out string? error);
        reply = node?.Value;
        return error;
    }

    private string? DoWrite(IXsView view, XsCaller caller, ReadOnlySpan<byte> payload, List<XsChange> changes)
    {
        int nul = payload.IndexOf((byte)0);
        if (nul < 0)
            return XsErrors.EINVAL;
        if (NodePath(Encoding.Latin1.GetString(payload[..nul]), caller, false, out string path) is string bad)
            return bad;
        byte[] value = payload[(nul + 1)..].ToArray();
        if (!caller.Privileged && value.Length > Options.MaxValueSize)
            return XsErrors.ENOSPC;
        XsNode? node = Lookup(view, caller, path, XsAccess.Write, out string? error);
        if (node is null)
        {
            if (error != XsErrors.ENOENT)
                return error;
            return Create(view, caller, path, value, changes);
        }
        XsNode changed = node.Clone();
        changed.Value = value;
        view.Put(path, changed);
        changes.Add(new XsChange(path, changed.Perms, false));
        return null;
    }

    private string? DoMkdir(IXsView view, XsCaller caller, ReadOnlySpan<byte> payload, List<XsChange> changes)
    {
        if (NodePath(OneArg(payload), caller, false, out string path) is string bad)
            return bad;
        XsNode? node = Lookup(view, caller, path, XsAccess.Write, out string? error);
        if (node is not null)
            return null; // already there: fine, and no watch fires
        return error != XsErrors.ENOENT ? error : Create(view, caller, path, [], changes);
    }

    /// <summary>
    /// Creates a node and any missing ancestors (xenstored's construct_node): each inherits its
    /// parent's permissions, and an unprivileged creator becomes the owner. Needs write access
    /// to the nearest existing ancestor.
    /// </summary>
    private string? Create(IXsView view, XsCaller caller, string path, byte[] value, List<XsChange> changes)
    {
        var missing = new List<string>();
        string p = path;
        XsNode? ancestor;
        while ((ancestor = view.Get(p)) is null)
        {
            missing.Add(p);
            p = XsPath.Parent(p);
        }
        if ((Access(ancestor, caller, out _) & XsAccess.Write) == 0)
            return XsErrors.EACCES;
        if (!caller.Privileged && view.OwnedNodes(caller.DomId) + missing.Count > Options.NodesPerDomain)
            return XsErrors.ENOSPC;
        XsPermission[] perms = ancestor.Perms;
        if (!caller.Privileged)
        {
            perms = [.. perms];
            perms[0] = perms[0] with { DomId = caller.DomId };
        }
        for (int i = missing.Count - 1; i >= 0; i--)
        {
            string child = missing[i];
            string parentPath = XsPath.Parent(child);
            XsNode parent = view.Get(parentPath)!.Clone();
            parent.Children.Add(XsPath.Name(child));
            view.Put(parentPath, parent);
            view.Put(child, new XsNode { Perms = perms, Value = i == 0 ? value : [] });
        }
        changes.Add(new XsChange(path, perms, false));
        return null;
    }

    private string? DoRm(IXsView view, XsCaller caller, ReadOnlySpan<byte> payload, List<XsChange> changes)
    {
        if (NodePath(OneArg(payload), caller, false, out string path) is string bad)
            return bad;
        XsNode? node = Lookup(view, caller, path, XsAccess.Write, out string? error);
        if (node is null)
        {
            // xenstored: "Didn't exist already? Fine, if parent exists."
            return error == XsErrors.ENOENT && path != "/" && view.Get(XsPath.Parent(path)) is not null ? null : error;
        }
        if (path == "/")
            return XsErrors.EINVAL;
        RemoveSubtree(view, path, node);
        string parentPath = XsPath.Parent(path);
        XsNode parent = view.Get(parentPath)!.Clone();
        parent.Children.Remove(XsPath.Name(path));
        view.Put(parentPath, parent);
        changes.Add(new XsChange(path, node.Perms, true));
        return null;
    }

    private static void RemoveSubtree(IXsView view, string path, XsNode node)
    {
        foreach (string name in node.Children)
        {
            string child = XsPath.Child(path, name);
            if (view.Get(child) is XsNode c)
                RemoveSubtree(view, child, c);
        }
        view.Remove(path);
    }

    private static string? DoDirectory(IXsView view, XsCaller caller, ReadOnlySpan<byte> payload, out byte[]? reply)
    {
        reply = null;
        if (NodePath(OneArg(payload), caller, false, out string path) is string bad)
            return bad;
        XsNode? node = Lookup(view, caller, path, XsAccess.Read, out string? error);
        if (node is null)
            return error;
        reply = Strings0(node.Children);
        return reply.Length > XsLimits.PayloadMax ? XsErrors.E2BIG : null;
    }

    /// <summary>
    /// XS_DIRECTORY_PART: "generation\0" then the children's NUL-separated names from a byte
    /// offset, as many whole names as fit; the last part ends with an extra NUL.
    /// </summary>
    private static string? DoDirectoryPart(IXsView view, XsCaller caller, ReadOnlySpan<byte> payload, out byte[]? reply)
    {
        reply = null;
        List<string> args = Strings(payload);
        if (args.Count != 2 || payload[^1] != 0 || !uint.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint offset))
            return XsErrors.EINVAL;
        if (NodePath(args[0], caller, false, out string path) is string bad)
            return bad;
        XsNode? node = Lookup(view, caller, path, XsAccess.Read, out string? error);
        if (node is null)
            return error;
        byte[] all = Strings0(node.Children);
        if (offset > all.Length)
            return XsErrors.EINVAL;
        byte[] gen = Encoding.ASCII.GetBytes(node.Generation.ToString(CultureInfo.InvariantCulture) + "\0");
        int room = XsLimits.PayloadMax - gen.Length - 1;
        int take = all.Length - (int)offset;
        bool last = take <= room;
        if (!last)
        {
            // Only whole names: cut after the last NUL that fits.
            take = all.AsSpan((int)offset, room).LastIndexOf((byte)0) + 1;
        }
        reply = new byte[gen.Length + take + (last ? 1 : 0)];
        gen.CopyTo(reply, 0);
        all.AsSpan((int)offset, take).CopyTo(reply.AsSpan(gen.Length));
        return null;
    }

    private static string? DoGetPerms(IXsView view, XsCaller caller, ReadOnlySpan<byte> payload, out byte[]? reply)
    {
        reply = null;
        if (NodePath(OneArg(payload), caller, true, out string path) is string bad)
            return bad;
        XsNode? node = Lookup(view, caller, path, XsAccess.Read, out string? error);
        if (node is null)
            return error;
        reply = Strings0(node.Perms.Select(p => p.ToString()));
        return null;
    }

    private string? DoSetPerms(IXsView view, XsCaller caller, ReadOnlySpan<byte> payload, List<XsChange> changes)
    {
        List<string> args = Strings(payload);
        if (args.Count < 2)
            return XsErrors.EINVAL;
        if (NodePath(args[0], caller, true, out string path) is string bad)
            return bad;
        var perms = new XsPermission[args.Count - 1];
        for (int i = 1; i < args.Count; i++)
            if (!XsPermission.TryParse(args[i], out perms[i - 1]))
                return XsErrors.EINVAL;
        if (!caller.Privileged && perms.Length > Options.PermissionsPerNode)
            return XsErrors.ENOSPC;
        XsNode? node = Lookup(view, caller, path, XsAccess.Write, out string? error, needOwner: true);
        if (node is null)
            return error;
        if (!caller.Privileged && perms[0].DomId != node.Perms[0].DomId)
            return XsErrors.EPERM; // unprivileged domains may not change the owner
        XsNode changed = node.Clone();
        changed.Perms = perms;
        view.Put(path, changed);
        changes.Add(new XsChange(path, perms, false));
        return null;
    }

    private static string FormatId(uint id) => id.ToString(CultureInfo.InvariantCulture);
}
