CREATE TABLE `media_refs` (
	`media_id` text NOT NULL,
	`chat_id` text NOT NULL,
	`account_a` text,
	`account_b` text,
	`referenced_at` integer NOT NULL,
	PRIMARY KEY(`media_id`, `chat_id`),
	FOREIGN KEY (`media_id`) REFERENCES `media`(`id`) ON UPDATE no action ON DELETE cascade
);
